package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// As a child subreaper the monitor inherits every orphan of a container
// that shares the host's pid namespace. Those must be reaped while the
// container runs, without stealing the exit of the init (reaped by run)
// or of a runtime command (reaped by os/exec).

// runCmd runs cmd, recording its pid so the stray reaper leaves it alone.
func (m *monitor) runCmd(cmd *exec.Cmd) error {
	m.cmdMu.Lock()
	err := cmd.Start()
	if err == nil {
		m.cmdPids[cmd.Process.Pid] = true
	}
	m.cmdMu.Unlock()
	if err != nil {
		return err
	}
	// Wait for the exit on the poller first: cmd.Wait alone would block an
	// OS thread, and the runtime keeps every thread it ever made.
	awaitExit(cmd.Process.Pid)
	err = cmd.Wait()
	m.cmdMu.Lock()
	delete(m.cmdPids, cmd.Process.Pid)
	m.cmdMu.Unlock()
	return err
}

// reapStrays reaps on every SIGCHLD until stop is closed.
func (m *monitor) reapStrays(stop <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	defer signal.Stop(ch)
	for {
		select {
		case <-ch:
			m.reapStraysOnce()
		case <-stop:
			return
		}
	}
}

func (m *monitor) reapStraysOnce() {
	m.cmdMu.Lock()
	defer m.cmdMu.Unlock()
	for _, pid := range children() {
		if pid == m.pid || m.cmdPids[pid] {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// children lists the monitor's child processes from /proc (each thread
// has its own list).
func children() []int {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(s); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// awaitExit returns once pid has exited, without reaping it (WNOWAIT), so
// the owner's own wait still gets the status.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(uintptr) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err != nil || info.Signo != 0
	})
}
