package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// dockerd is a private dockerd 20.10 used to check archive compatibility,
// started by the test suites' one launcher (tests/testutil).
type dockerd struct {
	dir  string
	sock string
}

func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	needRoot(t)
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd not installed")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	td, err := testutil.StartDaemon(context.Background(), testutil.TargetDockerd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := td.Stop(); err != nil {
			t.Errorf("stop dockerd: %v", err)
		}
	})
	return &dockerd{dir: td.Dir, sock: td.Sock}
}

func (d *dockerd) docker(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+filepath.Join(d.dir, "cli"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestDockerdInterop(t *testing.T) {
	d := startDockerd(t)
	ctx := context.Background()
	if out, err := d.docker(busyboxTar(t), "import", "-", "bbimp:v1"); err != nil {
		t.Fatalf("docker import: %v %s", err, out)
	}
	wantID, err := d.docker(nil, "inspect", "-f", "{{.Id}}", "bbimp:v1")
	if err != nil {
		t.Fatal(wantID)
	}
	archive := filepath.Join(d.dir, "saved.tar")
	if out, err := d.docker(nil, "save", "-o", archive, "bbimp:v1"); err != nil {
		t.Fatalf("docker save: %v %s", err, out)
	}
	t.Run("load docker save", func(t *testing.T) {
		s := newStore(t)
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var msgs []string
		if err := s.Load(ctx, f, func(m string) { msgs = append(msgs, m) }); err != nil {
			t.Fatal(err)
		}
		img, err := s.Resolve(ctx, "bbimp:v1")
		if err != nil || img.ID.String() != wantID || len(msgs) != 1 || msgs[0] != "Loaded image: bbimp:v1" {
			t.Fatalf("loaded %v (want %s) %v msgs %q", img, wantID, err, msgs)
		}
		createRW(t, s, "c", img)
		root, err := s.Mount(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Unmount(context.Background(), "c") })
		if _, err := os.Stat(filepath.Join(root, "bin", "busybox")); err != nil {
			t.Error(err)
		}
	})
	t.Run("docker load our save", func(t *testing.T) {
		s := newStore(t)
		img := importBusybox(t, s)
		createRW(t, s, "c", img)
		root, err := s.Mount(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, "greeting"), []byte("ok from layer two\n"), 0o644)
		s.Unmount(ctx, "c")
		child, err := s.Commit(ctx, "c", img, CommitOptions{Comment: "two"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, child.ID, "berth/two:v1"); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := s.Save(ctx, []string{"berth/two:v1"}, &buf); err != nil {
			t.Fatal(err)
		}
		if out, err := d.docker(buf.Bytes(), "load"); err != nil || !strings.Contains(out, "Loaded image: berth/two:v1") {
			t.Fatalf("docker load: %v %s", err, out)
		}
		if id, _ := d.docker(nil, "inspect", "-f", "{{.Id}}", "berth/two:v1"); id != child.ID.String() {
			t.Errorf("dockerd id %s, ours %s", id, child.ID)
		}
		out, err := d.docker(nil, "run", "--rm", "--network", "none", "berth/two:v1", "cat", "/greeting")
		if err != nil || out != "ok from layer two" {
			t.Errorf("docker run: %v %q", err, out)
		}
		out, err = d.docker(nil, "run", "--rm", "--network", "none", "berth/two:v1", "echo", "ok")
		if err != nil || out != "ok" {
			t.Errorf("docker run echo: %v %q", err, out)
		}
	})
}
