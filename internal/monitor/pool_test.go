package monitor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// warmed waits until p has a supervisor taking containers and returns its
// pid and socket.
func warmed(t *testing.T, p *Pool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		pid, sock, busy := p.pid, p.sock, p.warming
		p.mu.Unlock()
		if sock != "" && !busy {
			return pid, sock
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("Warm started no supervisor")
	return 0, ""
}

// A container created after Warm goes to the supervisor Warm started.
func TestWarmedSupervisorTakesTheCreate(t *testing.T) {
	e := newEnv(t, []string{"sleep", "100"}, opts{})
	p := NewPool(monitorBin, filepath.Join(t.TempDir(), "sup"), 16)
	e.cfg.Pool = p
	p.Warm()
	pid, _ := warmed(t, p)
	p.Warm() // one is there: nothing more starts
	if pid2, _ := warmed(t, p); pid2 != pid {
		t.Fatalf("a second Warm replaced supervisor %d by %d", pid, pid2)
	}
	m := e.create(testCtx(t))
	if m.procPid != pid {
		t.Fatalf("container went to supervisor %d, not the warmed %d", m.procPid, pid)
	}
	p.Cool() // asked for a container: left alone
	if waitProcGone(pid, 200*time.Millisecond) {
		t.Fatal("Cool stopped a supervisor serving a container")
	}
}

// Cool stops a warmed supervisor nobody asked, and its socket goes with it;
// a Cool that comes while Warm is still starting one stops it too.
func TestCoolStopsAnUnaskedSupervisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the monitor binary is built as root only)")
	}
	p := NewPool(monitorBin, filepath.Join(t.TempDir(), "sup"), 16)
	p.Warm()
	pid, sock := warmed(t, p)
	p.Cool()
	if !waitProcGone(pid, 5*time.Second) {
		t.Fatalf("supervisor %d still runs after Cool", pid)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("socket %s left after Cool", sock)
	}

	p.Warm()
	p.Cool() // before the supervisor is up
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		offered := p.warming || p.sock != ""
		p.mu.Unlock()
		running := procsMentioning(filepath.Dir(sock))
		if !offered && len(running) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a supervisor warmed and cooled at once is still there (offered %v, running %v)", offered, running)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With HideCgroup2Path the monitor runs crun itself in a mount namespace
// without the host's cgroup2 mount (what berth-crun does): on a hybrid
// cgroup host crun refuses to run otherwise. The host keeps its mount.
func TestHideCgroup2(t *testing.T) {
	crun, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("needs crun")
	}
	e := newEnv(t, []string{"sh", "-c", "echo hidden-ok; exit 4"}, opts{log: true})
	e.cfg.RuntimePath, e.cfg.HideCgroup2Path = crun, crun
	ctx := testCtx(t)
	m := e.create(ctx)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 4 {
		t.Errorf("exit code %d, want 4", st.Code)
	}
	waitFor(t, 5*time.Second, "the log line", func() bool {
		b, _ := os.ReadFile(e.cfg.LogPath)
		return strings.Contains(string(b), "hidden-ok")
	})
	before, _ := os.ReadFile("/proc/self/mountinfo")
	if hybrid := strings.Contains(string(before), " /sys/fs/cgroup/unified "); hybrid {
		t.Log("hybrid cgroup host: crun ran with the cgroup2 mount hidden")
	}
	// The monitor deletes the container after it has reported the exit.
	waitFor(t, 5*time.Second, "crun no longer lists "+e.cfg.ID, func() bool {
		out, _ := exec.Command(crun, "--root", e.cfg.RuntimeRoot, "list", "-q").CombinedOutput()
		return !strings.Contains(string(out), e.cfg.ID)
	})
}
