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

	"golang.org/x/sys/unix"
)

// Listener is a listening unix stream socket.
type Listener struct {
	f    *os.File
	path string
}

// Listen binds path (replacing a stale socket file) and listens.
func Listen(path string) (*Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// The fd is non-blocking, so NewFile registers it with the poller.
	return &Listener{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Path is the socket's file name.
func (l *Listener) Path() string { return l.path }

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
	return l.f.Close()
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
