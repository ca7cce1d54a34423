package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestMain lets the test binary double as the berth command, so the
// interactive tests can run it as a child with a real terminal and signals.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_AS_CLI") == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	os.Exit(m.Run())
}

// berthCmd is a child process running berth against the test daemon.
func (d *dockerd) berthCmd(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-H", d.host}, args...)...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_AS_CLI=1")
	return cmd
}

// lockedBuffer collects a pty's output from a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startInPty runs cmd with a new terminal as its stdio.
func startInPty(t *testing.T, cmd *exec.Cmd) (*os.File, *lockedBuffer) {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close() })
	out := &lockedBuffer{}
	go func() { _, _ = io.Copy(out, ptmx) }()
	return ptmx, out
}

func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit within %v", cmd.Args, limit)
		return -1
	}
}

func interactiveCommands(t *testing.T, d *dockerd) {
	t.Run("run-it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := d.berthCmd(ctx, t, "run", "-it", "--name", "tty1", "--network", "none", "busybox", "sh", "-c",
			"echo intty; [ -t 0 ] && echo isatty; exit 5")
		_, out := startInPty(t, cmd)
		if code := waitExit(t, cmd, 20*time.Second); code != 5 {
			t.Errorf("exit %d, want 5; output %q", code, out.String())
		}
		time.Sleep(100 * time.Millisecond)
		for _, want := range []string{"intty", "isatty"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output %q lacks %q", out.String(), want)
			}
		}
		// The terminal's size travels in the create body, like docker's.
		if o, _, _ := d.berth(t, "", "inspect", "-f", "{{.HostConfig.ConsoleSize}}", "tty1"); o != "[30 100]\n" {
			t.Errorf("ConsoleSize = %q", o)
		}
	})
	t.Run("detach-keys", func(t *testing.T) {
		if _, e, c := d.berth(t, "", "run", "-d", "-it", "--name", "dk", "--network", "none", "busybox", "sh"); c != 0 {
			t.Fatalf("run: %s", e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := d.berthCmd(ctx, t, "attach", "dk")
		ptmx, out := startInPty(t, cmd)
		time.Sleep(time.Second)
		if _, err := ptmx.Write([]byte{16, 17}); err != nil { // ctrl-p ctrl-q
			t.Fatal(err)
		}
		// docker attach exits 1 after the detach keys (tests/integration
		// checks the real docker CLI does the same).
		if code := waitExit(t, cmd, 10*time.Second); code != 1 {
			t.Errorf("attach exit %d after detach; output %q", code, out.String())
		}
		if o, _, _ := d.berth(t, "", "inspect", "-f", "{{.State.Running}}", "dk"); o != "true\n" {
			t.Errorf("container not running after detach: %q", o)
		}
	})
	t.Run("sig-proxy", func(t *testing.T) {
		if _, e, c := d.berth(t, "", "run", "-d", "--name", "sp", "--network", "none", "busybox", "sh", "-c",
			`trap "echo got TERM; exit 9" TERM; while true; do sleep 0.2; done`); c != 0 {
			t.Fatalf("run: %s", e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := d.berthCmd(ctx, t, "attach", "sp")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cmd, 15*time.Second); code != 9 {
			t.Errorf("attach exit %d, want the container's 9", code)
		}
		if !strings.Contains(out.String(), "got TERM") {
			t.Errorf("output %q lacks the trap's message", out.String())
		}
	})
}

// streamingCommands checks the commands that keep running: stats redraws
// its table and events prints what happens while it listens.
func streamingCommands(t *testing.T, d *dockerd) {
	if _, e, c := d.berth(t, "", "run", "-d", "--name", "st", "--network", "none", "busybox", "sleep", "3000"); c != 0 {
		t.Fatalf("run: %s", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats := d.berthCmd(ctx, t, "stats", "st")
	var sout bytes.Buffer
	stats.Stdout = &sout
	events := d.berthCmd(ctx, t, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}", "-f", "container=st")
	var eout bytes.Buffer
	events.Stdout = &eout
	for _, c := range []*exec.Cmd{stats, events} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	if _, e, c := d.berth(t, "", "restart", "-t", "0", "st"); c != 0 {
		t.Fatalf("restart: %s", e)
	}
	time.Sleep(2500 * time.Millisecond)
	for _, c := range []*exec.Cmd{stats, events} {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	if n := strings.Count(sout.String(), "\033[2J\033[H"); n < 2 {
		t.Errorf("stats redrew %d times: %q", n, sout.String())
	}
	if !strings.Contains(sout.String(), "CONTAINER ID   NAME") || !strings.Contains(sout.String(), " st ") {
		t.Errorf("stats table missing: %q", sout.String())
	}
	if !strings.Contains(eout.String(), "restart st\n") {
		t.Errorf("events output %q lacks the restart", eout.String())
	}
	followLogs(t, d)
}

// followLogs: logs -f keeps printing lines written after it started.
func followLogs(t *testing.T, d *dockerd) {
	if _, e, c := d.berth(t, "", "run", "-d", "--name", "lf", "--network", "none", "busybox", "sh", "-c",
		"echo one; sleep 1; echo two >&2; sleep 3000"); c != 0 {
		t.Fatalf("run: %s", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := d.berthCmd(ctx, t, "logs", "-f", "lf")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if out.String() != "one\n" || errOut.String() != "two\n" {
		t.Errorf("logs -f: stdout %q stderr %q", out.String(), errOut.String())
	}
}
