package console

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// TestReceiveAndResize sends a pty master the way runc does and checks the
// received fd is the same terminal by resizing it and reading the size back
// from the slave.
func TestReceiveAndResize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.sock")
	s, err := NewSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })

	sendErr := make(chan error, 1)
	go func() {
		c, err := net.Dial("unix", path)
		if err != nil {
			sendErr <- err
			return
		}
		defer c.Close()
		rights := unix.UnixRights(int(master.Fd()))
		_, _, err = c.(*net.UnixConn).WriteMsgUnix([]byte(master.Name()), rights, nil)
		sendErr <- err
	}()
	got, err := s.ReceiveMaster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { got.Close() })
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if got.Name() != master.Name() {
		t.Errorf("name = %q, want %q", got.Name(), master.Name())
	}
	if err := Resize(got, 33, 101); err != nil {
		t.Fatal(err)
	}
	rows, cols, err := pty.Getsize(slave)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 33 || cols != 101 {
		t.Errorf("size = %dx%d, want 33x101", rows, cols)
	}
}

func TestCloseRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	s, err := NewSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReceiveMaster(); err == nil {
		t.Error("ReceiveMaster after Close succeeded")
	}
	if _, err := net.Dial("unix", path); err == nil {
		t.Error("socket still accepts after Close")
	}
}
