package cgroupwarm

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOwnV1Procs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cpu,cpuacct/a", "pids/a/b", "systemd/s"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, d, "cgroup.procs"), nil, 0o644)
	}
	self := filepath.Join(t.TempDir(), "cgroup")
	os.WriteFile(self, []byte("0::/ignored-v2\n9:name=systemd:/s\n4:cpu,cpuacct:/a\n3:pids:/a/b\n"), 0o644)
	if got, want := ownV1Procs(root, self), filepath.Join(root, "pids/a/b/cgroup.procs"); got != want {
		t.Fatalf("got %q, want %q (pids preferred)", got, want)
	}
	os.WriteFile(self, []byte("0::/only-v2\n"), 0o644)
	if got := ownV1Procs(root, self); got != "" {
		t.Fatalf("v2-only host: got %q", got)
	}
}

func TestNilWarmerIsSafe(t *testing.T) {
	var w *Warmer
	w.Warm()
}

// TestWarmLeavesProcessWhereItIs runs a real warm on a cgroup v1 host: the
// "migration" must be a no-op, the process stays in its cgroups.
func TestWarmLeavesProcessWhereItIs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	w := New("/sys/fs/cgroup")
	if w == nil {
		t.Skip("not a cgroup v1 host")
	}
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	w.Warm()
	for deadline := time.Now().Add(10 * time.Second); w.busy.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("warm never finished")
		}
		time.Sleep(time.Millisecond)
	}
	after, _ := os.ReadFile("/proc/self/cgroup")
	if string(before) != string(after) {
		t.Fatalf("warm moved the process:\n%s\n->\n%s", before, after)
	}
}
