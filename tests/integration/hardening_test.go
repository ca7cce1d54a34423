package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// A daemon killed with SIGKILL leaves its pid file behind; the next start
// takes it over, even when the pid in it has since been reused by another
// program. Only a live berthd on the same roots blocks a start, and of two
// daemons started at once on the same roots exactly one runs.
func TestDaemonStalePidfile(t *testing.T) {
	o := newOwnDaemon(t)
	o.ok("run", "-d", "--name", "keep", "busybox", "sleep", "300")
	cpid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "keep"))

	// A live berthd on the same roots: refused, and the first one is unharmed.
	bin := filepath.Join(testutil.BinDir(o.d.RepoDir), "berthd")
	args := []string{"--data-root", o.d.Root, "--exec-root", o.d.Exec, "-H", "unix://" + o.d.Sock,
		"--pidfile", o.d.PidFile, "--bridge", "none"}
	out, err := berthdMustRefuse(t, bin, args...)
	if err == nil || !strings.Contains(string(out), "pid file found, ensure berthd is not running or delete "+o.d.PidFile) {
		t.Fatalf("second daemon on the same roots: %v: %s", err, out)
	}
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "keep"); got != "running" {
		t.Fatalf("first daemon after the refused start: %q", got)
	}
	// Another exec root and pid file but the same data root: refused too.
	other := t.TempDir()
	out, err = berthdMustRefuse(t, bin, "--data-root", o.d.Root, "--exec-root", filepath.Join(other, "exec"),
		"-H", "unix://"+filepath.Join(other, "s.sock"), "--pidfile", filepath.Join(other, "p.pid"), "--bridge", "none")
	if err == nil || !strings.Contains(string(out), "is in use by another berthd") {
		t.Fatalf("second daemon on the same data root: %v: %s", err, out)
	}

	// Crash, and let another program take the pid the file names.
	o.d.Kill()
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if err := os.WriteFile(o.d.PidFile, []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	o.start()
	if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"); got != "running "+strconv.Itoa(cpid) {
		t.Fatalf("after restart over a stale pid file: %q", got)
	}
	if b, _ := os.ReadFile(o.d.PidFile); strings.TrimSpace(string(b)) != strconv.Itoa(o.d.Pid()) || o.d.Pid() == sleeper.Process.Pid {
		t.Fatalf("pid file not rewritten: %q", b)
	}

	// Two starts racing on the same roots after a crash: exactly one wins.
	o.d.Kill()
	var cmds [2]*exec.Cmd
	done := make(chan int, 2)
	for i := range cmds {
		cmds[i] = exec.Command(bin, args...)
		cmds[i].SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		go func(i int) { cmds[i].Wait(); done <- i }(i)
	}
	var loser int
	select {
	case loser = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("neither racing daemon gave up")
	}
	winner := cmds[1-loser]
	if winner.ProcessState != nil {
		t.Fatalf("both racing daemons exited")
	}
	// Let the winner finish starting so the cleanup can stop it by its pid file.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(o.d.PidFile); strings.TrimSpace(string(b)) == strconv.Itoa(winner.Process.Pid) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if r := o.dr.Run(context.Background(), nil, "version"); r.Code == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "keep"); got != "running" {
		t.Fatalf("racing winner: %q", got)
	}
	select {
	case i := <-done:
		t.Fatalf("racing daemon %d exited too", i)
	default:
	}
}

// berthdMustRefuse runs berthd expecting it to exit at once; one that is
// still running after a while is stopped and reported.
func berthdMustRefuse(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("berthd %v started instead of refusing: %s", args, out)
	}
	return out, err
}
