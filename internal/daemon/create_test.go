package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/image"
	"github.com/moby/moby/api/types/container"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	want := []string{"PATH=/bin", "A=2", "B=3"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestMergeImageConfig(t *testing.T) {
	img := &image.Image{}
	img.Config.Config.Entrypoint = []string{"/entry"}
	img.Config.Config.Cmd = []string{"default"}
	img.Config.Config.WorkingDir = "/app"
	img.Config.Config.User = "app"
	img.Config.Config.Labels = map[string]string{"a": "1", "b": "1"}

	// Nothing given: the image supplies entrypoint, cmd, workdir and user.
	cfg := mergeImageConfig(&container.Config{Labels: map[string]string{"b": "2"}}, img)
	if !slices.Equal(cfg.Entrypoint, []string{"/entry"}) || !slices.Equal(cfg.Cmd, []string{"default"}) ||
		cfg.WorkingDir != "/app" || cfg.User != "app" || cfg.Labels["a"] != "1" || cfg.Labels["b"] != "2" {
		t.Fatalf("unexpected merge: %+v", cfg)
	}
	// A new entrypoint drops the image's cmd, as in Docker.
	cfg = mergeImageConfig(&container.Config{Entrypoint: []string{"/other"}}, img)
	if !slices.Equal(cfg.Entrypoint, []string{"/other"}) || len(cfg.Cmd) != 0 {
		t.Fatalf("entrypoint override: %+v", cfg)
	}
	// --entrypoint "" clears it and keeps the given cmd.
	cfg = mergeImageConfig(&container.Config{Entrypoint: []string{""}, Cmd: []string{"sh"}}, img)
	if len(cfg.Entrypoint) != 0 || !slices.Equal(cfg.Cmd, []string{"sh"}) {
		t.Fatalf("entrypoint clear: %+v", cfg)
	}
	// A cmd alone keeps the image's entrypoint.
	cfg = mergeImageConfig(&container.Config{Cmd: []string{"x"}}, img)
	if !slices.Equal(cfg.Entrypoint, []string{"/entry"}) || !slices.Equal(cfg.Cmd, []string{"x"}) {
		t.Fatalf("cmd override: %+v", cfg)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"": syscall.SIGTERM, "KILL": syscall.SIGKILL, "sigusr1": syscall.SIGUSR1, "9": syscall.SIGKILL, "HUP": syscall.SIGHUP} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Fatalf("%q: got %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"NOPE", "0", "99"} {
		if _, err := parseSignal(bad); err == nil {
			t.Fatalf("%q: expected an error", bad)
		}
	}
}

func TestContainerIndex(t *testing.T) {
	x := newContainerIndex()
	a := &Container{ID: "abc123", Name: "/web"}
	b := &Container{ID: "abd456", Name: "/db"}
	x.add(a)
	x.add(b)
	for ref, want := range map[string]*Container{"abc123": a, "web": a, "/db": b, "abc": a, "abd4": b} {
		got, err := x.get(ref)
		if err != nil || got != want {
			t.Fatalf("%q: got %v, %v", ref, got, err)
		}
	}
	if _, err := x.get("ab"); err == nil {
		t.Fatal("ambiguous prefix must fail")
	}
	if _, err := x.get("zzz"); err == nil {
		t.Fatal("unknown must fail")
	}
	if err := x.reserveName("/web", "other"); err == nil {
		t.Fatal("name in use must conflict")
	}
}

func TestCrunUsable(t *testing.T) {
	dir := t.TempDir()
	if !crunUsable(dir) {
		t.Error("no unified mount: crun handles pure v1 and v2 hosts")
	}
	os.MkdirAll(filepath.Join(dir, "unified"), 0o755)
	os.WriteFile(filepath.Join(dir, "unified", "cgroup.controllers"), []byte("\n"), 0o644)
	if !crunUsable(dir) {
		t.Error("hybrid with no controller on cgroup2: crun works")
	}
	os.WriteFile(filepath.Join(dir, "unified", "cgroup.controllers"), []byte("hugetlb\n"), 0o644)
	if crunUsable(dir) {
		t.Error("hybrid with hugetlb on cgroup2: crun refuses it")
	}
}
