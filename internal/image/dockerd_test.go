package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dockerd is a private dockerd 20.10 used to check archive compatibility.
type dockerd struct {
	dir string
}

func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	needRoot(t)
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd not installed")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	// Short path: the socket must fit in sun_path.
	dir, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{dir: dir}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+d.sock(), "--pidfile", filepath.Join(dir, "d.pid"),
		"--iptables=false", "--ip6tables=false", "--bridge=none")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait()
	t.Cleanup(func() { d.stop(t, pid, log) })
	for i := 0; i < 100; i++ {
		if _, err := d.docker(nil, "version"); err == nil {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(log.Name())
	t.Fatalf("dockerd did not come up:\n%s", b)
	return nil
}

func (d *dockerd) sock() string { return filepath.Join(d.dir, "d.sock") }

// stop ends dockerd by the pid in its pidfile (or the one we started),
// then removes its mounts and directories.
func (d *dockerd) stop(t *testing.T, pid int, log *os.File) {
	if b, err := os.ReadFile(filepath.Join(d.dir, "d.pid")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pid = p
		}
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 150 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond)
	}
	log.Close()
	unmountUnder(d.dir)
	if err := os.RemoveAll(d.dir); err != nil {
		t.Errorf("cleanup dockerd dir: %v", err)
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}

func (d *dockerd) docker(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock(), "DOCKER_CONFIG="+filepath.Join(d.dir, "cli"))
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
