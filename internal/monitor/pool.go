package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
)

// Pool places containers in shared monitor processes ("supervisors", see
// cmd/berth-monitor/supervisor.go), up to PerProcess each, instead of
// one monitor process per container. Most of a monitor's memory is the Go
// runtime's floor, which a supervisor pays once for all its containers;
// PerProcess bounds how many containers one crashed supervisor would
// take down with it.
//
// The pool only remembers the supervisor that takes new containers. A
// supervisor exits by itself once it has no containers, and berthd
// restarts leave running ones alone: their containers are reached
// through their own monitor.sock as before (Reconnect).
type Pool struct {
	bin, dir   string
	perProcess int

	mu      sync.Mutex
	sock    string // the supervisor taking new containers; "" for none yet
	pid     int
	warming bool // a Warm is starting one
	// asked: the current supervisor has had a request; one that Warm
	// started and nobody asked is what Cool stops.
	asked bool
	cool  bool // Cool came while Warm was starting one
}

// NewPool returns a pool of supervisors running bin, with their sockets
// in dir (on the exec root), each serving up to perProcess containers.
func NewPool(bin, dir string, perProcess int) *Pool {
	return &Pool{bin: bin, dir: dir, perProcess: perProcess}
}

// errRetry means the supervisor asked took nothing: it was full or
// retiring, so another one is asked.
var errRetry = errors.New("monitor supervisor full or exiting")

// create asks a supervisor to create cfg's container, starting one when
// none takes it. It returns the init's pid and the supervisor's.
func (p *Pool) create(ctx context.Context, cfg Config, cfgPath string) (pid, procPid int, err error) {
	for attempt := 0; attempt < 4; attempt++ {
		sock, spid, err := p.current(ctx)
		if err != nil {
			return 0, 0, err
		}
		p.mu.Lock()
		if p.sock == sock {
			p.asked = true
		}
		p.mu.Unlock()
		pid, err := p.request(ctx, sock, cfgPath, cfg.RuntimeExe)
		if errors.Is(err, errRetry) {
			p.forget(sock)
			continue
		}
		return pid, spid, err
	}
	return 0, 0, errors.New("no monitor supervisor took the container")
}

// current returns the supervisor taking new containers, starting one if
// there is none.
func (p *Pool) current(ctx context.Context) (string, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sock != "" {
		return p.sock, p.pid, nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return "", 0, fmt.Errorf("monitor dir: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	sock := filepath.Join(p.dir, hex.EncodeToString(b)+".sock")
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return "", 0, fmt.Errorf("monitor sync pipe: %w", err)
	}
	defer syncR.Close()
	cmd := exec.Command(p.bin, "serve", sock, strconv.Itoa(p.perProcess))
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = monitorEnv
	err = cmd.Start()
	syncW.Close()
	if err != nil {
		return "", 0, fmt.Errorf("start monitor supervisor: %w", err)
	}
	// Reap it whenever it ends (after a daemon restart init adopts it),
	// and stop offering it: it exits once it has served its last
	// container, so the next Warm starts another ahead of need.
	go func() {
		cmd.Wait()
		p.forget(sock)
	}()
	typ, msg, err := readFrameCtx(ctx, syncR)
	switch {
	case err != nil:
		cmd.Process.Kill()
		return "", 0, fmt.Errorf("monitor supervisor: %w", err)
	case typ == proto.Error:
		return "", 0, fmt.Errorf("monitor supervisor: %s", msg)
	}
	p.sock, p.pid, p.asked = sock, cmd.Process.Pid, false
	return sock, p.pid, nil
}

// warmTimeout bounds a background supervisor start.
const warmTimeout = 30 * time.Second

// Warm starts a supervisor in the background when none takes new
// containers, so that a container start coming soon (a `docker run`
// starts what it created within milliseconds; a pod's containers follow
// its sandbox) does not wait for a process to start. A supervisor that
// nobody asks exits after its idle limit (cmd/berth-monitor). Warm on a
// nil Pool does nothing.
func (p *Pool) Warm() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.sock != "" || p.warming {
		p.mu.Unlock()
		return
	}
	p.warming = true
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
		defer cancel()
		p.current(ctx) // an error here is met again, and reported, by the create
		p.mu.Lock()
		p.warming = false
		if p.cool {
			p.cool = false
			p.coolLocked()
		}
		p.mu.Unlock()
	}()
}

// Cool stops a supervisor that Warm started when no container was asked
// of it: the start it was warmed for failed before reaching the monitor,
// and an idle process must not outlive the failure by its idle limit. A
// supervisor serving containers, or asked for one, is left alone. Cool on
// a nil Pool does nothing.
func (p *Pool) Cool() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.warming {
		p.cool = true
		return
	}
	p.coolLocked()
}

func (p *Pool) coolLocked() {
	if p.sock == "" || p.asked {
		return
	}
	// Our child, reaped by the goroutine of current; until then the pid
	// cannot be reused.
	syscall.Kill(p.pid, syscall.SIGKILL)
	os.Remove(p.sock)
	p.sock, p.pid = "", 0
}

// forget drops sock as the supervisor for new containers.
func (p *Pool) forget(sock string) {
	p.mu.Lock()
	if p.sock == sock {
		p.sock, p.pid = "", 0
	}
	p.mu.Unlock()
}

// request sends one New request to the supervisor at sock.
func (p *Pool) request(ctx context.Context, sock, cfgPath string, runtimeExe *os.File) (int, error) {
	addr, release, err := unixsock.Short(sock)
	if err != nil {
		return 0, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	release()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, errRetry // gone: it exited when its last container did
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	// Ok first: the request will be served. EOF instead: it was retiring.
	hello := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	typ, _, err := proto.ReadFrame(conn, nil)
	if !hello() || err != nil || typ != proto.Ok {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, errRetry
	}
	// Once the request is sent, a cancel closes our end, which makes the
	// supervisor kill the create and undo it; its answer says when that
	// is done, so nothing of the container outlives the error.
	stop := context.AfterFunc(ctx, func() {
		conn.CloseWrite()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
	})
	defer stop()
	frame := make([]byte, 5+len(cfgPath))
	frame[0] = proto.New
	proto.PutU32(frame[1:], uint32(len(cfgPath)))
	copy(frame[5:], cfgPath)
	var oob []byte
	if runtimeExe != nil {
		oob = syscall.UnixRights(int(runtimeExe.Fd()))
	}
	if _, _, err := conn.WriteMsgUnix(frame, oob, nil); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("monitor request: %w", err)
	}
	typ, payload, err := proto.ReadFrame(conn, nil)
	switch {
	case err == nil && typ == proto.Ok && len(payload) == 4:
		// Created, even if the cancel came too late to stop it: the
		// caller undoes it like any container whose start failed.
		return int(proto.U32(payload)), nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case err != nil:
		return 0, fmt.Errorf("monitor exited before the container was created: %w", err)
	case typ == proto.Busy:
		return 0, errRetry
	case typ == proto.Error:
		// The runtime's text alone: callers add Docker's prefix.
		return 0, errors.New(string(payload))
	}
	return 0, errors.New("monitor: bad reply")
}

// readFrameCtx reads one frame from r, giving up when ctx ends.
func readFrameCtx(ctx context.Context, r *os.File) (byte, []byte, error) {
	type res struct {
		typ byte
		p   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		typ, p, err := proto.ReadFrame(r, nil)
		ch <- res{typ, p, err}
	}()
	select {
	case x := <-ch:
		return x.typ, x.p, x.err
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}
