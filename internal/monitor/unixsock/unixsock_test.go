package unixsock

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEchoAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo = %q, %v", buf[:n], err)
	}
	// Close must wake a blocked Accept and remove the file.
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Accept after Close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("socket file left behind")
	}
}

func TestRecvFds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fd.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// The fd is read here, not in the sender: the race detector cannot see
	// that the message orders the sender's read before the deferred Close.
	wfd := int(w.Fd())
	go func() {
		c, err := net.Dial("unix", path)
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.UnixConn).WriteMsgUnix([]byte("name"), unix.UnixRights(wfd), nil)
	}()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64)
	n, fds, err := RecvFds(conn, buf)
	if err != nil || string(buf[:n]) != "name" || len(fds) != 1 {
		t.Fatalf("RecvFds = %q %v %v", buf[:n], fds, err)
	}
	got := os.NewFile(uintptr(fds[0]), "w")
	defer got.Close()
	got.Write([]byte("x"))
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Errorf("received fd is not the pipe: %q %v", b, err)
	}
}

// A socket file whose path passes sun_path's 108 bytes (a deep data root
// plus a 64-hex container ID) is still bound, reached and removed.
func TestLongPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 120 {
		dir = filepath.Join(dir, "0123456789abcdef0123456789abcdef")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "monitor.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(l.Path()) > maxPath {
		t.Fatalf("Path() %q is too long to connect to", l.Path())
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	addr, release, err := Short(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", addr)
	release()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.Close()
	l.Close()
	if _, err := os.Stat(path); err == nil {
		t.Error("socket file left behind")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
