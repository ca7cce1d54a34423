package cri

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/container"
	"github.com/vishvananda/netns"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// startStreaming serves exec, attach and port-forward for the kubelet
// (and crictl) through the upstream streaming library, on loopback.
func (s *Server) startStreaming() error {
	l, err := net.Listen("tcp", s.opts.StreamAddr)
	if err != nil {
		return fmt.Errorf("cri streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: l.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	s.stream = &streamServer{Server: srv, hs: hs}
	go hs.Serve(l)
	return nil
}

// streamServer stops our own http.Server (the library's Start would pick
// its own listener, whose port we could not know in advance).
type streamServer struct {
	streaming.Server
	hs *http.Server
}

func (s *streamServer) Stop() error { return s.hs.Close() }

// Exec answers the URL the client streams an exec on.
func (s *Server) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateRunning {
		return nil, status.Errorf(codes.FailedPrecondition, "container_id: container %s is not running", c.ID)
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalidf("cmd: required")
	}
	return s.stream.GetExec(req)
}

// Attach answers the URL the client attaches on.
func (s *Server) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateRunning {
		return nil, status.Errorf(codes.FailedPrecondition, "container_id: container %s is not running", c.ID)
	}
	return s.stream.GetAttach(req)
}

// PortForward answers the URL the client forwards ports on.
func (s *Server) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if s.sandboxes.view(sb).State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "pod_sandbox_id: pod sandbox %s is not ready", sb.ID)
	}
	req.PodSandboxId = sb.ID
	return s.stream.GetPortForward(req)
}

// ExecSync runs a command and returns its output and exit code; after
// timeout seconds (0 = none) the command is killed.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateRunning {
		return nil, status.Errorf(codes.FailedPrecondition, "container_id: container %s is not running", c.ID)
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalidf("cmd: required")
	}
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = 16<<20, 16<<20
	if req.GetTimeout() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.GetTimeout())*time.Second)
		defer cancel()
	}
	code, err := s.execIn(ctx, c.ID, req.GetCmd(), nil, nopWriteCloser{&stdout}, nopWriteCloser{&stderr}, false, nil)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, status.Errorf(codes.DeadlineExceeded, "command %q timed out after %ds", req.GetCmd(), req.GetTimeout())
		}
		return nil, grpcError(err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.b.Bytes(), Stderr: stderr.b.Bytes(), ExitCode: int32(code)}, nil
}

// execIn runs cmd in the container through the engine's exec and returns
// its exit code. When ctx ends first the process is killed.
func (s *Server) execIn(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) (int, error) {
	execID, err := s.eng.ExecCreate(ctx, id, &container.ExecCreateRequest{
		Cmd: cmd, Tty: tty, AttachStdin: in != nil, AttachStdout: out != nil, AttachStderr: errw != nil && !tty,
	})
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			if ei, err := s.eng.ExecInspect(context.Background(), execID); err == nil && ei.Pid > 0 {
				syscall.Kill(ei.Pid, syscall.SIGKILL)
			}
		case <-done:
		}
	}()
	if resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					s.eng.ExecResize(context.Background(), execID, uint(sz.Height), uint(sz.Width))
				case <-done:
					return
				}
			}
		}()
	}
	cfg := &engine.StreamConfig{
		UseStdin: in != nil, UseStdout: out != nil, UseStderr: errw != nil,
		GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
			var stdin io.ReadCloser
			if in != nil {
				stdin = io.NopCloser(in)
			}
			return stdin, writerOrDiscard(out), writerOrDiscard(errw), nil
		},
	}
	if err := s.eng.ExecStart(context.WithoutCancel(ctx), execID, &container.ExecStartRequest{Tty: tty}, cfg); err != nil {
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	ei, err := s.eng.ExecInspect(context.WithoutCancel(ctx), execID)
	if err != nil {
		return 0, err
	}
	if ei.ExitCode == nil {
		return 0, fmt.Errorf("exec %s: no exit code", execID)
	}
	return *ei.ExitCode, nil
}

func writerOrDiscard(w io.WriteCloser) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// limitedBuffer keeps at most max bytes (ExecSync's output is returned in
// one gRPC message).
type limitedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// streamRuntime is what the streaming library calls once a client connects.
type streamRuntime struct{ s *Server }

func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	code, err := r.s.execIn(ctx, id, cmd, in, out, errw, tty, resize)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if resize != nil {
		go func() {
			for sz := range resize {
				r.s.eng.ContainerResize(context.Background(), id, uint(sz.Height), uint(sz.Width))
			}
		}()
	}
	cfg := &engine.StreamConfig{
		UseStdin: in != nil, UseStdout: out != nil, UseStderr: errw != nil, Stream: true,
		GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
			var stdin io.ReadCloser
			if in != nil {
				stdin = io.NopCloser(in)
			}
			return stdin, writerOrDiscard(out), writerOrDiscard(errw), nil
		},
	}
	return r.s.eng.ContainerAttach(ctx, id, cfg)
}

// PortForward connects to port on the pod's loopback from inside its
// network namespace and copies both ways.
func (r streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sb, err := r.s.getSandbox(podID)
	if err != nil {
		return err
	}
	v := r.s.sandboxes.view(sb)
	conn, err := dialInNetNS(ctx, v.NetNS, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("port forward to %d in pod %s: %w", port, podID, err)
	}
	defer conn.Close()
	errc := make(chan error, 2)
	go func() { _, err := io.Copy(conn, stream); conn.(*net.TCPConn).CloseWrite(); errc <- err }()
	go func() { _, err := io.Copy(stream, conn); errc <- err }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// dialInNetNS opens a TCP connection from inside the namespace at nsPath
// ("host" = this one). The socket keeps the namespace it was made in, so
// only the dial runs on a thread switched into it; that thread is never
// reused (the goroutine exits locked).
func dialInNetNS(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	var d net.Dialer
	if nsPath == "host" || nsPath == "" {
		return d.DialContext(ctx, "tcp4", addr)
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := d.DialContext(ctx, "tcp4", addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
