// Package unixsock is a unix stream listener built on os.File and the
// runtime poller instead of package net, which would add about half a
// megabyte to the berth-monitor binary (one copy mapped per container).
// Accepted connections are *os.File: Read, Write, deadlines and Close all
// go through the poller.
package unixsock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxPath is the longest name sun_path holds (108 bytes with its NUL).
const maxPath = 107

// Short returns a name for the socket file path that fits in sun_path:
// path itself when it is short enough, else /proc/<pid>/fd/<n>/<base>,
// where n is an O_PATH descriptor of the directory held until release is
// called. The pid is ours rather than "self" so that a child (runc
// connecting to a console socket) resolves the same directory. Long paths
// are real: a data root under a deep temp directory plus a 64-hex
// container ID passes 108 bytes.
func Short(path string) (name string, release func(), err error) {
	if len(path) <= maxPath {
		return path, func() {}, nil
	}
	dir, base := filepath.Split(path)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("socket directory %s: %w", dir, err)
	}
	name = fmt.Sprintf("/proc/%d/fd/%d/%s", os.Getpid(), fd, base)
	if len(name) > maxPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket name %s is longer than %d bytes", base, maxPath)
	}
	return name, func() { unix.Close(fd) }, nil
}

// Listener is a listening unix stream socket.
type Listener struct {
	f       *os.File
	path    string // the socket file
	addr    string // the name it is reached by (see Short)
	release func()
}

// Listen binds path (replacing a stale socket file) and listens.
func Listen(path string) (*Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	addr, release, err := Short(path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		release()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		unix.Close(fd)
		release()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		os.Remove(path)
		release()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// The fd is non-blocking, so NewFile registers it with the poller.
	return &Listener{f: os.NewFile(uintptr(fd), path), path: path, addr: addr, release: release}, nil
}

// Path is the name to connect to: the socket file's path, or while the
// listener is open a /proc name for it when the path is too long.
func (l *Listener) Path() string { return l.addr }

// Accept waits for a connection. After Close it returns an error.
func (l *Listener) Accept() (*os.File, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	if aerr != nil {
		return nil, fmt.Errorf("accept: %w", aerr)
	}
	return os.NewFile(uintptr(nfd), l.path), nil
}

// Close stops listening and removes the socket file.
func (l *Listener) Close() error {
	os.Remove(l.path)
	err := l.f.Close()
	l.release()
	return err
}

// RecvFds reads one message from conn and returns its data and the fds
// passed with it as SCM_RIGHTS.
func RecvFds(conn *os.File, buf []byte) (n int, fds []int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	var oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return n, nil, err
	}
	for i := range msgs {
		if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return n, fds, nil
}
