package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is one component process, known by PID and by its start time (so a
// recycled PID is never mistaken for it).
type Proc struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // /proc/<pid>/stat field 22, clock ticks since boot
}

// procStart reads a process's start time and whether it is a zombie.
func procStart(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	// comm may hold spaces and parentheses: fields start after the last ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("bad stat of %d", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false, fmt.Errorf("bad stat of %d", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}

// Alive reports whether the process still runs (a zombie does not).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, z, err := procStart(p.PID)
	return err == nil && !z && st == p.Start
}

// spawn starts a component in its own session, with stdout and stderr
// appended to logPath, and reaps it in the background when it ends while
// this process lives (after a daemon restart it is init's child).
func spawn(name, bin string, args []string, logPath string) (Proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return Proc{}, err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Proc{}, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	go cmd.Wait() //nolint:errcheck // the exit is observed through Alive
	st, _, err := procStart(cmd.Process.Pid)
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	return Proc{Name: name, PID: cmd.Process.Pid, Start: st}, nil
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs and waits for the end.
func (p Proc) stop(grace time.Duration) {
	if !p.Alive() {
		return
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for p.Alive() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p.Alive() {
		syscall.Kill(p.PID, syscall.SIGKILL)
		for i := 0; i < 100 && p.Alive(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitFor polls check until it succeeds, the process dies, or ctx ends. A
// failure names the component and quotes the end of its log.
func waitFor(ctx context.Context, p Proc, logPath string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited during start-up; end of %s:\n%s", p.Name, logPath, tail(logPath, 15))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%v); end of %s:\n%s", p.Name, timeout, last, logPath, tail(logPath, 15))
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
