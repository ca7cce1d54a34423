package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
	"golang.org/x/sys/unix"
)

// A supervisor runs the monitors of up to max containers in one process
// (`berth-monitor serve SOCKET MAX`). Each container keeps everything its
// own monitor process gave it: its own monitor.sock, log, exit.json and
// goroutines, so a slow client or a chatty container holds up no other.
// What they share is the Go runtime, which is most of a monitor's memory
// (about 0.55 MB of anonymous memory even for a program that does nothing),
// and the process: a crash of the supervisor would end the monitoring of
// all its containers, which is why berthd caps max (see internal/monitor).
//
// It lives while it has containers or requests: once it has neither it
// stops listening and exits. berthd starts a new one when it finds none
// listening, so a supervisor never outlives its containers, and one
// started by an older berthd serves its containers to the end with its
// own binary (upgrades need no hand-over).
type supervisor struct {
	procs *procs
	ln    *unixsock.Listener
	max   int

	mu         sync.Mutex
	containers int // running or being created
	requests   int // accepted connections not yet answered
	retiring   bool
	done       chan struct{}
	trim       *time.Timer // returns freed memory after a change (see settle)
}

// idleLimit is how long a supervisor waits for its first request: one
// whose starter died before asking anything must not stay forever.
const idleLimit = 10 * time.Second

func serveMain(sync *os.File, sock string, max int) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fail(sync, "monitor: set child subreaper: "+err.Error())
	}
	ln, err := unixsock.Listen(sock)
	if err != nil {
		fail(sync, "monitor: "+err.Error())
	}
	s := &supervisor{procs: newProcs(), ln: ln, max: max, done: make(chan struct{})}
	s.trim = time.AfterFunc(time.Hour, debug.FreeOSMemory)
	s.trim.Stop()
	go s.procs.reapStrays(nil)
	time.AfterFunc(idleLimit, func() {
		s.mu.Lock()
		s.maybeRetire()
		s.mu.Unlock()
	})
	if sync != nil {
		proto.WriteFrame(sync, proto.Ok, nil)
		sync.Close()
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			break
		}
		s.mu.Lock()
		if s.retiring {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.requests++
		s.mu.Unlock()
		go s.handle(conn)
	}
	<-s.done
	os.Exit(0)
}

// maybeRetire stops listening once nothing is left to serve. s.mu held.
func (s *supervisor) maybeRetire() {
	if s.retiring || s.containers > 0 || s.requests > 0 {
		return
	}
	s.retiring = true
	s.ln.Close()
	close(s.done)
}

// handle answers one New request and, when the container was created,
// monitors it until it has exited.
func (s *supervisor) handle(conn *os.File) {
	m, fd := s.accept(conn)
	conn.Close()
	s.mu.Lock()
	s.requests--
	s.mu.Unlock()
	if m != nil {
		s.settle()
		m.run()
	}
	if fd > 0 {
		unix.Close(fd)
	}
	s.mu.Lock()
	if m != nil {
		s.containers--
	}
	s.maybeRetire()
	s.mu.Unlock()
	s.settle()
}

// settle gives the memory a create or an exit left free back to the
// system once things are quiet. The runtime's own scavenger keeps freed
// pages up to about the heap goal, which for a few containers is most of
// their memory; the forced collection costs well under a millisecond
// here, once per quiet second after a change, never on the data path.
func (s *supervisor) settle() {
	s.trim.Reset(trimDelay)
}

const trimDelay = time.Second

// accept reads the request and creates the container. It returns the
// monitor to run (nil when there is none) and the runtime descriptor
// received with the request, to close once the container is done.
func (s *supervisor) accept(conn *os.File) (m *monitor, runtimeFD int) {
	if proto.WriteFrame(conn, proto.Ok, nil) != nil {
		return nil, 0
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, fds, err := unixsock.RecvFds(conn, buf)
	for i, fd := range fds {
		if i == 0 {
			runtimeFD = fd
		} else {
			unix.Close(fd)
		}
	}
	if err != nil || n < 5 || buf[0] != proto.New {
		return nil, runtimeFD
	}
	// The rest of a frame the first read did not hold.
	want := 5 + int(proto.U32(buf[1:5]))
	if want > len(buf) {
		return nil, runtimeFD
	}
	for n < want {
		k, err := conn.Read(buf[n:want])
		if err != nil {
			return nil, runtimeFD
		}
		n += k
	}
	conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	full := s.containers >= s.max
	if !full {
		s.containers++
	}
	s.mu.Unlock()
	if full {
		proto.WriteFrame(conn, proto.Busy, nil)
		return nil, runtimeFD
	}
	// The daemon closes its end when its request is cancelled.
	cancel := make(chan struct{})
	go func() {
		var b [1]byte
		conn.Read(b[:])
		close(cancel)
	}()
	m, err = s.create(string(buf[5:want]), runtimeFD, cancel)
	if err == nil && isClosed(cancel) {
		m.ln.Close()
		m.abort()
		err = errString("monitor: request cancelled")
	}
	if err != nil {
		s.mu.Lock()
		s.containers--
		s.mu.Unlock()
		proto.WriteFrame(conn, proto.Error, []byte(err.Error()))
		return nil, runtimeFD
	}
	var pid [4]byte
	proto.PutU32(pid[:], uint32(m.pid))
	if err := proto.WriteFrame(conn, proto.Ok, pid[:]); err != nil {
		// The daemon is gone: the container must not run unwatched.
		m.ln.Close()
		m.abort()
		s.mu.Lock()
		s.containers--
		s.mu.Unlock()
		return nil, runtimeFD
	}
	return m, runtimeFD
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// create is main's create for one container of the supervisor.
func (s *supervisor) create(cfgPath string, runtimeFD int, cancel <-chan struct{}) (*monitor, error) {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, errString("monitor: " + err.Error())
	}
	cfg, err := proto.UnmarshalConfig(data)
	if err != nil {
		return nil, err
	}
	// The descriptor number berthd wrote is its own child's; ours is the
	// one received.
	cfg.RuntimeFD = runtimeFD
	m := newMonitor(cfg, s.procs, true)
	m.cancel = cancel
	if err := m.create(); err != nil {
		return nil, err
	}
	if err := m.listen(); err != nil {
		m.abort()
		return nil, errString("monitor: " + err.Error())
	}
	return m, nil
}

// parseMax reads serve's MAX argument.
func parseMax(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}
