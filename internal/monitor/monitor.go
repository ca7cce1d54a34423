// Package monitor is berthd's side of the per-container monitor process
// (cmd/berth-monitor).
//
// The monitor, not berthd, is the parent of the container's init, so the
// daemon can restart while containers keep running. Create spawns it,
// Reconnect finds it again after a daemon restart, and ReadExit reads the
// exit status it recorded when nobody was connected. The files it keeps
// in Config.Dir:
//
//	monitor.json  its Config (written by Create)
//	monitor.sock  its control socket (protocol in package proto)
//	init.pid      the container init's pid (written by the runtime)
//	exit.json     {"code":N,"exited_at":"RFC3339Nano","oom_killed":bool}
//	runtime.log   the runtime's JSON log
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/monitor/proto"
)

// Config describes the container a monitor runs.
type Config struct {
	ID, Dir, Bundle          string // Dir holds monitor.json, monitor.sock, init.pid, exit.json, runtime.log
	MonitorPath              string // the berth-monitor binary
	RuntimePath, RuntimeRoot string // e.g. /usr/sbin/runc, <exec-root>/runtime/runc
	// RuntimeExe, when set, is a sealed copy of the runtime binary
	// (runtime.UseSealedCopy) that the monitor runs instead of RuntimePath.
	RuntimeExe *os.File
	// HideCgroup2Path, when set, is the crun that RuntimePath (berth-crun)
	// wraps: the monitor runs it itself in a mount namespace without the
	// host's cgroup2 mount, as berth-crun would, and RuntimeExe is a sealed
	// copy of it. RuntimePath stays what berthd runs for clean-ups.
	HideCgroup2Path  string
	LogPath          string // json-file log; "" for none
	LogFormat        string // "" (json-file) or "cri"
	LogMaxSize       int64
	LogMaxFiles      int
	Tty, OpenStdin   bool
	StdinOnce        bool
	ConsoleHeight    uint
	ConsoleWidth     uint
	CgroupMemoryPath string // v1 memory cgroup dir, for OOM detection
	// Pool, when set, places the container in a shared supervisor
	// process instead of a monitor process of its own.
	Pool *Pool
}

// monitorEnv is the environment of every monitor process.
var monitorEnv = []string{"GOMAXPROCS=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// ExitStatus is how the container's init ended.
type ExitStatus struct {
	Code      int
	ExitedAt  time.Time
	OOMKilled bool
}

// Monitor is a handle on a running monitor process. Close drops the
// handle; the monitor keeps running.
type Monitor struct {
	dir     string
	pid     int
	sock    string
	procPid int  // the monitor process itself, when this handle spawned it
	shared  bool // procPid is a supervisor serving other containers too

	mu     sync.Mutex
	exit   *ExitStatus
	closed bool
	conns  map[net.Conn]struct{} // open Wait connections, closed by Close
}

// Create spawns a monitor for cfg and waits until `runtime create` is
// done. On failure the error carries the runtime's own message and no
// monitor, runtime state or socket is left.
func Create(ctx context.Context, cfg Config) (*Monitor, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("monitor dir: %w", err)
	}
	// A status left by an earlier run in the same dir must not be taken
	// for this run's exit.
	os.Remove(filepath.Join(cfg.Dir, "exit.json"))
	cfgPath := filepath.Join(cfg.Dir, "monitor.json")
	// The exec root is volatile (tmpfs /run in production; a reboot ends
	// every container anyway), so its files are not fsynced.
	if err := os.WriteFile(cfgPath, proto.MarshalConfig(cfg.wire()), 0o600); err != nil {
		os.Remove(cfgPath)
		return nil, fmt.Errorf("write monitor config: %w", err)
	}
	if cfg.Pool != nil {
		pid, procPid, err := cfg.Pool.create(ctx, cfg, cfgPath)
		if err != nil {
			// The supervisor deletes the runtime state itself unless it
			// crashed or the request was cancelled; a second delete is
			// harmless.
			cleanupRuntime(cfg)
			removeFiles(cfg.Dir)
			return nil, err
		}
		return &Monitor{dir: cfg.Dir, pid: pid, sock: filepath.Join(cfg.Dir, "monitor.sock"), procPid: procPid, shared: true}, nil
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		os.Remove(cfgPath)
		return nil, fmt.Errorf("monitor sync pipe: %w", err)
	}
	defer syncR.Close()
	cmd := exec.Command(cfg.MonitorPath, cfgPath)
	cmd.ExtraFiles = []*os.File{syncW}
	if cfg.RuntimeExe != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, cfg.RuntimeExe) // fd 4
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = monitorEnv
	if err := cmd.Start(); err != nil {
		syncW.Close()
		os.Remove(cfgPath)
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	syncW.Close()
	// Reap the monitor whenever it ends so it never stays a zombie; after
	// a daemon restart init adopts it instead.
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	pid, err := readSync(ctx, syncR)
	if err != nil {
		if ctx.Err() != nil {
			// The whole process group (the monitor is its leader after
			// Setsid): a runtime command it started must not outlive it.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		<-exited
		// The monitor deletes the runtime state itself unless it was
		// killed or crashed; a second delete is harmless.
		cleanupRuntime(cfg)
		removeFiles(cfg.Dir)
		return nil, err
	}
	return &Monitor{dir: cfg.Dir, pid: pid, sock: filepath.Join(cfg.Dir, "monitor.sock"), procPid: cmd.Process.Pid}, nil
}

func (c *Config) wire() *proto.Config {
	w := &proto.Config{
		ID: c.ID, Dir: c.Dir, Bundle: c.Bundle, RuntimePath: c.RuntimePath, RuntimeRoot: c.RuntimeRoot,
		LogPath: c.LogPath, LogFormat: c.LogFormat, LogMaxSize: c.LogMaxSize, LogMaxFiles: c.LogMaxFiles,
		Tty: c.Tty, OpenStdin: c.OpenStdin, StdinOnce: c.StdinOnce,
		ConsoleHeight: c.ConsoleHeight, ConsoleWidth: c.ConsoleWidth, CgroupMemoryPath: c.CgroupMemoryPath,
	}
	if c.RuntimeExe != nil {
		w.RuntimeFD = 4 // after the sync pipe in ExtraFiles
	}
	if c.HideCgroup2Path != "" {
		w.RuntimePath, w.HideCgroup2 = c.HideCgroup2Path, true
	}
	return w
}

// readSync waits for the monitor's Created or Error frame.
func readSync(ctx context.Context, r *os.File) (int, error) {
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
	var x res
	select {
	case x = <-ch:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	switch {
	case x.err != nil:
		return 0, fmt.Errorf("monitor exited before the container was created: %w", x.err)
	case x.typ == proto.Error:
		// The runtime's text alone: callers add Docker's prefix.
		return 0, errors.New(string(x.p))
	case x.typ == proto.Ok && len(x.p) == 4:
		return int(proto.U32(x.p)), nil
	}
	return 0, errors.New("monitor: bad sync message")
}

// removeFiles deletes what Create and the monitor put in dir, leaving
// the caller's own files (the bundle may share the directory).
func removeFiles(dir string) {
	for _, f := range []string{"monitor.json", "monitor.sock", "console.sock", "init.pid", "exit.json", "exit.json.tmp", "runtime.log"} {
		os.Remove(filepath.Join(dir, f))
	}
}

// cleanupRuntime removes what a killed monitor may have left: the
// runtime's state and, when `runtime create` died before recording any
// state, the container's (empty) cgroups.
func cleanupRuntime(cfg Config) {
	exec.Command(cfg.RuntimePath, "--root", cfg.RuntimeRoot, "delete", "--force", cfg.ID).Run()
	path, ok := cgroups.PathOf("memory", cfg.CgroupMemoryPath)
	if !ok {
		return
	}
	dirs := cgroups.Dirs(path)
	// A killed process leaves its cgroup only once it is fully gone;
	// rmdir fails (EBUSY) until then, and always on a non-empty cgroup.
	for _, d := range dirs {
		for i := 0; i < 20; i++ {
			if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Reconnect returns a handle on the monitor serving dir, after a daemon
// restart. It fails with a NotFound error when the monitor is gone.
func Reconnect(ctx context.Context, dir string) (*Monitor, error) {
	m := &Monitor{dir: dir, sock: filepath.Join(dir, "monitor.sock")}
	st, err := m.State(ctx)
	if err != nil {
		return nil, errdefs.NotFound(fmt.Errorf("monitor in %s: %w", dir, err))
	}
	m.pid = st.Pid
	return m, nil
}

// ReadExit reads exit.json, the status a monitor recorded before exiting.
func ReadExit(dir string) (*ExitStatus, error) {
	data, err := os.ReadFile(filepath.Join(dir, "exit.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Errorf("no exit status in %s: %w", dir, err))
		}
		return nil, err
	}
	var v struct {
		Code      int       `json:"code"`
		ExitedAt  time.Time `json:"exited_at"`
		OOMKilled bool      `json:"oom_killed"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("read exit status: %w", err)
	}
	return &ExitStatus{Code: v.Code, ExitedAt: v.ExitedAt, OOMKilled: v.OOMKilled}, nil
}

// Pid is the container init's pid.
func (m *Monitor) Pid() int { return m.pid }

// Close drops the daemon's connections (and ends pending Waits with an
// error); the monitor and the container keep running.
func (m *Monitor) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	m.conns = nil
	return nil
}
