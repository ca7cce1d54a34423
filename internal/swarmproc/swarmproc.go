// Package swarmproc runs the swarm front end (cmd/berth-swarm) as a child
// of berthd and forwards the swarm routes to it. berthd links no
// Kubernetes client: the front end's process exists only while the node
// is in a swarm (or while init or join is under way).
package swarmproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/swarm"
)

// Config locates the front end and what it works on.
type Config struct {
	Binary     string // berth-swarm; default: beside berthd's executable, then $PATH
	StateDir   string // <data-root>/swarm: state.json, kubeconfig, log
	Socket     string // where the front end listens (<exec-root>/swarm.sock)
	DaemonHost string // berthd's own socket, for the daemon's cluster (unix path)
	VolumeRoot string // named volumes of services on this node
	Kubeconfig string // daemon.json "swarm-kubeconfig": a cluster to adopt
	Logger     *slog.Logger
}

// Process is the front end process, started on demand.
type Process struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	proxy  *httputil.ReverseProxy

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// New prepares the forwarding; it starts nothing.
func New(cfg Config) *Process {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Process{cfg: cfg, log: cfg.Logger}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", cfg.Socket)
	}}
	p.client = &http.Client{Transport: tr}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "berth-swarm"
		},
		Transport:     tr,
		FlushInterval: -1, // logs -f streams
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"message": "swarm front end: " + err.Error()})
		},
	}
	return p
}

func (p *Process) statePath() string { return filepath.Join(p.cfg.StateDir, "state.json") }

// savedState reads the front end's state.json without starting it.
func (p *Process) savedState() (st savedState, ok bool) {
	b, err := os.ReadFile(p.statePath())
	if err != nil {
		return st, false
	}
	if json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// savedState is what berthd reads of the front end's state.json.
type savedState struct {
	NodeID   string `json:"nodeID"`
	NodeAddr string `json:"nodeAddr"`
	Role     string `json:"role"` // "worker" on a node that joined
}

func (p *Process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// SwarmInfo asks the running front end; without one it answers from the
// saved state (a node in a swarm whose front end has not started yet) or
// says inactive, without starting anything.
func (p *Process) SwarmInfo(ctx context.Context) swarm.Info {
	if p.running() {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://berth-swarm/berth/swarm/info", nil)
		if resp, err := p.client.Do(req); err == nil {
			defer resp.Body.Close()
			var info swarm.Info
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&info) == nil {
				return info
			}
		}
	}
	if st, ok := p.savedState(); ok {
		return swarm.Info{NodeID: st.NodeID, NodeAddr: st.NodeAddr, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: st.Role != "worker"}
	}
	return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
}

// Forwarder returns the proxy to the front end, starting it if asked.
func (p *Process) Forwarder(ctx context.Context, start bool) (http.Handler, error) {
	if !p.running() {
		if !start {
			return nil, nil
		}
		if err := p.start(ctx); err != nil {
			return nil, err
		}
	}
	return http.HandlerFunc(p.forward), nil
}

// forward proxies one request; the front end is stopped once the node is
// out of a swarm again (after leave, or an init or join that failed), so
// an idle berthd outside a swarm runs no Kubernetes client.
func (p *Process) forward(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	p.proxy.ServeHTTP(sw, r)
	path := r.URL.Path
	leaving := strings.HasSuffix(path, "/swarm/leave") && sw.code == http.StatusOK
	failedStart := (strings.HasSuffix(path, "/swarm/init") || strings.HasSuffix(path, "/swarm/join")) && sw.code != http.StatusOK
	if leaving || failedStart {
		if _, ok := p.savedState(); !ok {
			go p.Stop()
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (p *Process) binary() (string, error) {
	if p.cfg.Binary != "" {
		return p.cfg.Binary, nil
	}
	if exe, err := os.Executable(); err == nil {
		b := filepath.Join(filepath.Dir(exe), "berth-swarm")
		if _, err := os.Stat(b); err == nil {
			return b, nil
		}
	}
	return exec.LookPath("berth-swarm")
}

func (p *Process) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	bin, err := p.binary()
	if err != nil {
		return errdefs.NotImplemented(fmt.Errorf("swarm mode needs the berth-swarm binary beside berthd: %w", err))
	}
	if err := os.MkdirAll(p.cfg.StateDir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(p.cfg.StateDir, "berth-swarm.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	os.Remove(p.cfg.Socket)
	args := []string{"--socket", p.cfg.Socket, "--state-dir", p.cfg.StateDir, "--volume-root", p.cfg.VolumeRoot}
	if p.cfg.DaemonHost != "" {
		args = append(args, "--daemon-host", p.cfg.DaemonHost)
	}
	if p.cfg.Kubeconfig != "" {
		args = append(args, "--kubeconfig", p.cfg.Kubeconfig)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The front end goes with berthd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// Pdeathsig fires when the thread that forked the child exits, not
	// berthd: a goroutine that switched network namespaces ends its locked
	// thread, and if that thread was the front end's parent, the front end
	// got SIGTERM in the middle of a stream (a pod start under `service
	// logs -f` did it). So the child is forked and waited for by a
	// goroutine that keeps its thread to itself until the child ends.
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		p.mu.Lock()
		if p.cmd == cmd {
			p.cmd = nil
		}
		p.mu.Unlock()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting berth-swarm: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("unix", p.cfg.Socket)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return errors.New("berth-swarm exited at start; see " + filepath.Join(p.cfg.StateDir, "berth-swarm.log"))
		case <-ctx.Done():
			cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return errors.New("berth-swarm did not open its socket")
		}
	}
	p.cmd, p.done = cmd, done
	p.log.Info("swarm front end started", "pid", cmd.Process.Pid)
	return nil
}

// Stop ends the front end (berthd's shutdown, or after leave).
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	os.Remove(p.cfg.Socket)
}
