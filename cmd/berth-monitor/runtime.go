package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
)

// runtimeArgs are the global flags every runtime command gets.
func (m *monitor) runtimeArgs(cmd ...string) []string {
	args := []string{"--root", m.cfg.RuntimeRoot, "--log", m.path("runtime.log"), "--log-format", "json"}
	return append(args, cmd...)
}

func (m *monitor) path(name string) string { return filepath.Join(m.cfg.Dir, name) }

// runtimeCmd is exec.Command for the runtime: its sealed copy when the
// daemon passed one (resolved by the child's execve before close-on-exec
// descriptors close, so it is not inherited further), else its path.
func (m *monitor) runtimeCmd(args ...string) *exec.Cmd {
	if m.cfg.RuntimeFD == 0 {
		return exec.Command(m.cfg.RuntimePath, args...)
	}
	cmd := exec.Command("/proc/self/fd/"+strconv.Itoa(m.cfg.RuntimeFD), args...)
	cmd.Args[0] = filepath.Base(m.cfg.RuntimePath)
	return cmd
}

// runtimeCreate runs `runtime create` with the container's stdio and
// returns the init pid.
func (m *monitor) runtimeCreate(stdin, stdout, stderr *os.File, consoleSocket string) (int, error) {
	args := []string{"create", "--bundle", m.cfg.Bundle, "--pid-file", m.path("init.pid")}
	if consoleSocket != "" {
		args = append(args, "--console-socket", consoleSocket)
	}
	args = append(args, m.cfg.ID)
	cmd := m.runtimeCmd(m.runtimeArgs(args...)...)
	// os/exec opens /dev/null for a nil stream.
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if stderr != nil {
		// The runtime hands its own stdio to the container, so the
		// container's stderr must be the runtime's stderr. Its error text
		// then lands in that pipe; the caller reads it from there.
		cmd.Stderr = stderr
	}
	m.procs.beginCreate()
	pid, err := m.runCreate(cmd, &errBuf)
	m.procs.endCreate(pid)
	return pid, err
}

func (m *monitor) runCreate(cmd *exec.Cmd, errBuf *bytes.Buffer) (int, error) {
	var started func(int)
	if m.cancel != nil {
		// A supervisor's request can be cancelled: the create and what
		// it forked so far (its own process group) are killed, as the
		// daemon kills a monitor of its own with its process group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		done := make(chan struct{})
		defer close(done)
		started = func(pid int) {
			go func() {
				select {
				case <-m.cancel:
					syscall.Kill(-pid, syscall.SIGKILL)
				case <-done:
				}
			}()
		}
	}
	if err := m.procs.runCmd(cmd, m.cfg.HideCgroup2, started); err != nil {
		return 0, m.runtimeError("create", err, errBuf.Bytes())
	}
	b, err := os.ReadFile(m.path("init.pid"))
	if err != nil {
		return 0, errors.New("monitor: read init pid: " + err.Error())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errors.New("monitor: bad init pid " + strconv.Quote(string(b)))
	}
	return pid, nil
}

// runtimeRun runs a runtime command that needs no stdio.
func (m *monitor) runtimeRun(cmd ...string) error {
	var out bytes.Buffer
	c := m.runtimeCmd(m.runtimeArgs(cmd...)...)
	c.Stdout, c.Stderr = &out, &out
	if err := m.procs.runCmd(c, m.cfg.HideCgroup2, nil); err != nil {
		return m.runtimeError(cmd[0], err, out.Bytes())
	}
	return nil
}

// runtimeDelete removes the runtime's state; it is idempotent enough to be
// called on every exit path.
func (m *monitor) runtimeDelete() {
	// No --log: the daemon may already have removed Dir after the exit.
	c := m.runtimeCmd("--root", m.cfg.RuntimeRoot, "delete", "--force", m.cfg.ID)
	m.procs.runCmd(c, m.cfg.HideCgroup2, nil)
}

// runtimeError prefers the runtime's last error-level log message (runc
// writes its reason there, e.g. `exec: "x": executable file not found in
// $PATH`), then its output, then the exit status.
func (m *monitor) runtimeError(op string, err error, output []byte) error {
	if msg := lastLogError(m.path("runtime.log")); msg != "" {
		return errors.New(msg)
	}
	if s := strings.TrimSpace(string(output)); s != "" {
		return errors.New(s)
	}
	return errors.New(filepath.Base(m.cfg.RuntimePath) + " " + op + ": " + err.Error())
}

// lastLogError returns the msg of the last "error" entry of a runtime's JSON
// log, or "".
func lastLogError(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(data, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if !bytes.Contains(lines[i], []byte(`"error"`)) {
			continue
		}
		kv, err := proto.ParseFlat(lines[i])
		if err == nil && kv["level"] == "error" && kv["msg"] != "" {
			return kv["msg"]
		}
	}
	return ""
}

// truncateLog starts each runtime command with an empty log, so an old
// error cannot be reported for a new failure.
func (m *monitor) truncateLog() {
	os.Truncate(m.path("runtime.log"), 0)
}

// readOOMKills returns the memory cgroup's oom_kill count (cgroup v1
// memory.oom_control, or cgroup v2 memory.events).
func readOOMKills(dir string) int {
	if dir == "" {
		return 0
	}
	for _, f := range []string{"memory.oom_control", "memory.events"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
	}
	return 0
}

// writeExit records the exit status atomically: temp file, rename. No
// fsync: exit.json lives on the volatile exec root, and the daemon reads it
// at once or, after a daemon restart, from the page cache.
func (m *monitor) writeExit(e proto.ExitInfo) error {
	b := []byte(`{"code":`)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"exited_at":`...)
	b = proto.AppendJSONString(b, time.Unix(0, e.ExitedAt).UTC().Format(time.RFC3339Nano))
	b = append(b, `,"oom_killed":`...)
	b = strconv.AppendBool(b, e.OOMKilled)
	b = append(b, "}\n"...)
	final := m.path("exit.json")
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
