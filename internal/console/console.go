// Package console receives a pseudo-terminal master from an OCI runtime.
//
// runc (and crun) create the pty inside the container and send its master
// end to the path given with --console-socket: one unix stream connection
// carrying the fd as SCM_RIGHTS ancillary data. The receiver owns the master
// from then on: it reads the container's output from it, writes stdin to it
// and sets the window size on it.
package console

import (
	"errors"
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/monitor/unixsock"
	"golang.org/x/sys/unix"
)

// Socket is a listening console socket.
type Socket struct {
	l *unixsock.Listener
}

// NewSocket listens on path. A stale socket file at path is replaced.
func NewSocket(path string) (*Socket, error) {
	// unixsock rather than net: the monitor binary links this package and
	// must stay small.
	l, err := unixsock.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &Socket{l: l}, nil
}

// Path is where the socket listens (the value for --console-socket).
func (s *Socket) Path() string { return s.l.Path() }

// ReceiveMaster accepts one connection and returns the fd it carries.
// It blocks until the runtime connects or the socket is closed.
func (s *Socket) ReceiveMaster() (*os.File, error) {
	conn, err := s.l.Accept()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	// runc sends the pty's name as the data bytes; the name is not needed
	// but the buffer must hold it or the message is truncated.
	name := make([]byte, 4096)
	n, fds, err := unixsock.RecvFds(conn, name)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("console socket receive: %w", err)
	}
	if len(fds) == 0 {
		return nil, errors.New("console socket: no file descriptor received")
	}
	// A sender should pass exactly one fd; close any extras so none leak.
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	// Non-blocking before NewFile: the file then uses Go's poller, so reads
	// honour deadlines and Close wakes a blocked Read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// Close stops listening and removes the socket file.
func (s *Socket) Close() error {
	return s.l.Close()
}

// Resize sets the terminal's window size (TIOCSWINSZ) on a pty master.
func Resize(master *os.File, height, width uint) error {
	ws := &unix.Winsize{Row: uint16(height), Col: uint16(width)}
	// SyscallConn rather than Fd: Fd would switch the master to blocking
	// mode, and a blocked Read could then no longer be woken by Close.
	rc, err := master.SyscallConn()
	if err != nil {
		return fmt.Errorf("resize console: %w", err)
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	}); err != nil {
		return fmt.Errorf("resize console: %w", err)
	}
	if ioErr != nil {
		return fmt.Errorf("resize console: %w", ioErr)
	}
	return nil
}
