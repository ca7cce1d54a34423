package runtime

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// syncBuf is a bytes.Buffer safe for the copy goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func process(args ...string) *specs.Process {
	return &specs.Process{
		Args: args,
		Env:  []string{"PATH=/bin", "TERM=xterm"},
		Cwd:  "/",
	}
}

func scratch(t *testing.T) string {
	// Short, so the console socket path fits sun_path.
	d, err := os.MkdirTemp("", "bx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestExecOutputAndExitCode(t *testing.T) {
	c := startContainer(t)
	var out, errOut syncBuf
	p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{
		Process: process("sh", "-c", "echo hello; echo oops >&2; exit 3"),
		Stdout:  &out, Stderr: &errOut, Dir: scratch(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 {
		t.Fatalf("pid %d", p.Pid())
	}
	code, err := p.Wait()
	if err != nil || code != 3 {
		t.Fatalf("exit %d %v", code, err)
	}
	if out.String() != "hello\n" || errOut.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestExecMissingExecutable(t *testing.T) {
	c := startContainer(t)
	var errOut syncBuf
	_, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{Process: process("nosuch"), Stderr: &errOut, Dir: scratch(t)})
	want := `unable to start container process: exec: "nosuch": executable file not found in $PATH`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	if errOut.String() != "" {
		t.Fatalf("runtime error leaked to the process's stderr: %q", errOut.String())
	}
}

func TestExecStdinAndSignalExit(t *testing.T) {
	c := startContainer(t)
	var out syncBuf
	p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{
		Process: process("cat"), Stdin: strings.NewReader("piped in\n"), Stdout: &out, Dir: scratch(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(); code != 0 || out.String() != "piped in\n" {
		t.Fatalf("exit %d out %q", code, out.String())
	}
	p, err = c.rt.Exec(ctxT(t), c.id, ExecOpts{Process: process("sh", "-c", "kill -9 $$"), Dir: scratch(t)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(); code != 137 {
		t.Fatalf("killed by SIGKILL: exit %d, want 137", code)
	}
}

func TestExecCloseStdin(t *testing.T) {
	c := startContainer(t)
	var out syncBuf
	pr, pw, _ := os.Pipe()
	t.Cleanup(func() { pr.Close(); pw.Close() })
	p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{Process: process("wc", "-c"), Stdin: pr, Stdout: &out, Dir: scratch(t)})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("abc"))
	time.Sleep(50 * time.Millisecond)
	// The source stays open: only CloseStdin can end wc's input.
	p.CloseStdin()
	if code, _ := p.Wait(); code != 0 || strings.TrimSpace(out.String()) != "3" {
		t.Fatalf("exit %d out %q", code, out.String())
	}
}

func TestExecTty(t *testing.T) {
	c := startContainer(t)
	var out syncBuf
	p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{
		Process:       process("sh", "-c", "sleep 0.2; tty; stty size; exit 5"),
		Tty:           true,
		Stdout:        &out,
		ConsoleHeight: 30, ConsoleWidth: 100,
		Dir: scratch(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if err != nil || code != 5 {
		t.Fatalf("exit %d %v", code, err)
	}
	got := out.String()
	t.Logf("tty output %q", got)
	// A pty turns \n into \r\n.
	if !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "30 100\r\n") {
		t.Fatalf("tty output %q", got)
	}
}

func TestExecTtyResize(t *testing.T) {
	c := startContainer(t)
	dir := scratch(t)
	var out syncBuf
	pr, pw, _ := os.Pipe()
	t.Cleanup(func() { pr.Close(); pw.Close() })
	p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{
		Process: process("sh"), Tty: true, Stdin: pr, Stdout: &out, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	// The runtime relays the size on SIGWINCH, asynchronously.
	time.Sleep(100 * time.Millisecond)
	pw.Write([]byte("stty size; exit 2\n"))
	code, _ := p.Wait()
	if code != 2 || !strings.Contains(out.String(), "40 120") {
		t.Fatalf("exit %d out %q", code, out.String())
	}
}

func TestExecTtyMissingExecutable(t *testing.T) {
	c := startContainer(t)
	var out syncBuf
	_, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{Process: process("/nosuch"), Tty: true, Stdout: &out, Dir: scratch(t)})
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("got %v", err)
	}
	if out.String() != "" {
		t.Fatalf("runtime error leaked to the tty: %q", out.String())
	}
}

func TestExecLatency(t *testing.T) {
	c := startContainer(t)
	dir := scratch(t)
	best := time.Hour
	for i := 0; i < 5; i++ {
		start := time.Now()
		p, err := c.rt.Exec(ctxT(t), c.id, ExecOpts{Process: process("true"), Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := p.Wait(); code != 0 {
			t.Fatalf("true exited %d", code)
		}
		best = min(best, time.Since(start))
	}
	// Only logged: latency is measured by make bench, never asserted in a
	// test on a shared machine (this failed at 220 ms under a load of 40).
	t.Logf("exec true: best of 5 = %v", best)
}
