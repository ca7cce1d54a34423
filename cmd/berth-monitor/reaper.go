package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// As a child subreaper the monitor inherits every orphan of a container
// that shares the host's pid namespace. Those must be reaped while the
// container runs, without stealing the exit of the init (reaped by run)
// or of a runtime command (reaped by os/exec).

// procs is the process-wide record of which children belong to someone:
// a container's init (reaped by its monitor's run) or a runtime command
// (reaped by os/exec). Every other child is a stray. A supervisor shares
// one procs among all its containers.
type procs struct {
	mu    sync.Mutex
	owned map[int]bool
	// creating counts runtime creates in flight: the init they make
	// becomes our child (when the runtime exits) before its pid is known,
	// so no stray is reaped until it is owned.
	creating int
	kick     chan struct{} // a reap pass after the last create ended
}

func newProcs() *procs {
	return &procs{owned: map[int]bool{}, kick: make(chan struct{}, 1)}
}

// beginCreate and endCreate bracket a runtime create; endCreate takes
// ownership of the init's pid (0 when the create failed).
func (p *procs) beginCreate() {
	p.mu.Lock()
	p.creating++
	p.mu.Unlock()
}

func (p *procs) endCreate(pid int) {
	p.mu.Lock()
	if pid > 0 {
		p.owned[pid] = true
	}
	p.creating--
	last := p.creating == 0
	p.mu.Unlock()
	if last {
		p.wake()
	}
}

// disown hands pid over to the stray reaper (its owner has reaped it, or
// gave up on it).
func (p *procs) disown(pid int) {
	p.mu.Lock()
	delete(p.owned, pid)
	p.mu.Unlock()
	p.wake()
}

func (p *procs) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// runCmd runs cmd, recording its pid so the stray reaper leaves it alone.
// started, if set, is called with the pid once it runs.
func (p *procs) runCmd(cmd *exec.Cmd, hideCgroup2 bool, started func(pid int)) error {
	p.mu.Lock()
	var err error
	if hideCgroup2 {
		err = startWithoutCgroup2(cmd)
	} else {
		err = cmd.Start()
	}
	if err == nil {
		p.owned[cmd.Process.Pid] = true
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if started != nil {
		started(cmd.Process.Pid)
	}
	// Wait for the exit on the poller first: cmd.Wait alone would block an
	// OS thread, and the runtime keeps every thread it ever made.
	awaitExit(cmd.Process.Pid)
	err = cmd.Wait()
	p.mu.Lock()
	delete(p.owned, cmd.Process.Pid)
	p.mu.Unlock()
	return err
}

// reapStrays reaps on every SIGCHLD until stop is closed (never, when
// stop is nil).
func (p *procs) reapStrays(stop <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	defer signal.Stop(ch)
	for {
		select {
		case <-ch:
		case <-p.kick:
		case <-stop:
			return
		}
		p.reapStraysOnce()
	}
}

func (p *procs) reapStraysOnce() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creating > 0 {
		return // endCreate wakes us again
	}
	for _, pid := range children() {
		if p.owned[pid] {
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
