package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
)

// ptySession is a CLI running under a pseudo-terminal, as in an interactive shell.
type ptySession struct {
	c    *tcase
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (c *tcase) startPTY(args ...string) *ptySession {
	c.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	cmd := c.dr.Command(ctx, args...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		cancel()
		c.Fatalf("start under pty: %v", err)
	}
	s := &ptySession{c: c, cmd: cmd, tty: tty, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	c.Cleanup(func() {
		cancel()
		tty.Close()
	})
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *ptySession) write(b string) {
	if _, err := io.WriteString(s.tty, b); err != nil {
		s.c.Fatalf("write to pty: %v", err)
	}
}

// expect waits until the terminal output contains sub.
func (s *ptySession) expect(sub string) {
	s.c.Helper()
	s.c.eventually(20*time.Second, "terminal output "+sub, func() bool {
		return strings.Contains(s.output(), sub)
	})
}

// wait waits for the CLI to exit and returns its exit code.
func (s *ptySession) wait() int {
	s.c.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			s.c.Fatalf("cli under pty: %v", err)
		}
		return 0
	case <-time.After(30 * time.Second):
		s.c.Fatalf("cli under pty did not exit; output:\n%s", s.output())
		return -1
	}
}
