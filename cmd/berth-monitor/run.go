package main

import (
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
	"golang.org/x/sys/unix"
)

// run serves clients and copies output until the container's init exits,
// then records the exit, cleans up and tells every client.
func (m *monitor) run() {
	var clients sync.WaitGroup
	m.clientsWG = &clients
	go m.serve(&clients)
	// A supervisor reaps strays for all its containers (see serve).
	stopReaper := make(chan struct{})
	if !m.shared {
		go m.procs.reapStrays(stopReaper)
	}
	var pumps sync.WaitGroup
	for _, o := range m.outputs {
		pumps.Add(1)
		go func(o output) {
			defer pumps.Done()
			m.pump(o)
		}(o)
	}
	code := m.reap()
	close(stopReaper)
	m.procs.disown(m.pid)
	m.mu.Lock()
	m.dead = true
	m.mu.Unlock()
	exitedAt := time.Now()
	oom := readOOMKills(m.cfg.CgroupMemoryPath) > 0
	m.startDraining()
	pumps.Wait()
	m.unblockStdin()
	m.closeStdin()
	for _, o := range m.outputs {
		o.r.Close()
	}
	if m.log != nil {
		m.log.Close()
	}
	e := proto.ExitInfo{Code: code, ExitedAt: exitedAt.UnixNano(), OOMKilled: oom}
	m.writeExit(e)
	// Closing the listener removes monitor.sock, so a late Reconnect fails
	// and the daemon reads exit.json instead.
	m.ln.Close()
	// Clients hear of the exit before the runtime's state is deleted: that
	// delete costs a runtime process (~7 ms) that `run --rm` need not wait
	// for. A restart of the same container deletes leftover state itself.
	m.finish(e)
	m.runtimeDelete()
	waitTimeout(&clients, 3*time.Second)
	if !m.shared {
		m.reapOrphans()
	}
}

// reap waits for the container's init and returns Docker's exit code:
// the status, or 128+signal.
func (m *monitor) reap() int {
	ws, err := waitPoll(m.pid)
	if err != nil {
		ws, err = waitBlocking(m.pid)
	}
	if err != nil {
		// Not our child (should not happen with the subreaper bit): poll
		// until it is gone and report an unknown status.
		for unix.Kill(m.pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
		return 255
	}
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// waitPoll waits through a pidfd on the runtime poller, so no OS thread
// sits blocked in wait4 for the container's whole life (each thread is
// resident memory, per container).
func waitPoll(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return ws, err
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return ws, err
	}
	var werr error
	err = rc.Read(func(uintptr) bool {
		var got int
		got, werr = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return got == pid || (werr != nil && werr != syscall.EINTR)
	})
	if err == nil {
		err = werr
	}
	return ws, err
}

func waitBlocking(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws, err
		}
	}
}

// reapOrphans collects processes re-parented to us (a container sharing
// the host's pid namespace can leave some) so none stay as zombies.
func (m *monitor) reapOrphans() {
	var ws unix.WaitStatus
	for {
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
