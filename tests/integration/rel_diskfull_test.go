package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	"golang.org/x/sys/unix"
)

// A berthd whose data root is a small tmpfs that is then filled: import,
// build, commit, cp and container logging fail with the disk's error and
// leave no half-written file behind (ingest temp files, half-unpacked
// layers, load dirs, images, rw layers); once space is freed the same
// operations succeed, so nothing was corrupted.
func TestDiskFull(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd-only: a daemon on a data root of its own")
	}
	dir, err := os.MkdirTemp("/tmp", "bf")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=64m"); err != nil {
		os.RemoveAll(dir)
		t.Skipf("tmpfs: %v", err)
	}
	o := &ownDaemon{t: t, dir: dir}
	t.Cleanup(func() {
		if o.d != nil {
			if ids := lines(o.run("ps", "-aq").Stdout); len(ids) > 0 {
				o.run(append([]string{"rm", "-f"}, ids...)...)
			}
			if err := o.d.Shutdown(); err != nil {
				o.d.Kill()
			}
		}
		testutil.UnmountUnder(data)
		unix.Unmount(data, unix.MNT_DETACH)
		if err := testutil.RemoveDir(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	o.start()
	if r := o.dr.Run(context.Background(), bytes.NewReader(env.tarData), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
	// A container with 3 MB in its rw layer, to commit and to log from.
	o.ok("run", "--name", "writer", "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /big")
	o.ok("run", "-d", "--name", "logger", "busybox", "sleep", "100000")
	filler := filepath.Join(data, "filler")
	// fillLeaving fills the disk and then gives back leave bytes.
	fillLeaving := func(leave int64) {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		var n int64
		for {
			m, err := f.Write(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		if leave > 0 {
			f.Truncate(max(n-leave, 0))
		}
		f.Close()
	}
	fill := func() { fillLeaving(0) }
	big := filepath.Join(dir, "big.bin")
	b := make([]byte, 4<<20)
	rand.Read(b)
	os.WriteFile(big, b, 0o644)
	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nRUN head -c 4000000 /dev/urandom > /blob\n"), 0o644)
	// A build whose RUN fits in its container's layer but whose layer
	// then does not fit in the content store: the disk fills while the
	// step is committed.
	ctxCommit := filepath.Join(dir, "ctxcommit")
	os.MkdirAll(ctxCommit, 0o755)
	os.WriteFile(filepath.Join(ctxCommit, "Dockerfile"), []byte("FROM busybox\nRUN head -c 4000000 /dev/urandom > /blob && echo step-ran\n"), 0o644)
	var imgTar bytes.Buffer
	if err := testutil.BusyboxTarWith(&imgTar, false, map[string]string{"/opt/blob": string(b)}); err != nil {
		t.Fatal(err)
	}
	images := func() string { return o.ok("images", "-aq", "--no-trunc") }
	containers := func() string { return o.ok("ps", "-aq", "--no-trunc") }
	ops := []struct {
		name  string
		args  []string
		in    []byte
		leave int64  // bytes left free
		out   string // also in the output: the failure is where it was meant to be
	}{
		{"import", []string{"import", "-", "fat:1"}, imgTar.Bytes(), 0, ""},
		{"build", []string{"build", "-q", "-t", "fatbuild:1", ctxDir}, nil, 0, ""},
		{"build-commit", []string{"build", "-t", "fatbuild:2", ctxCommit}, nil, 6 << 20, "step-ran"},
		{"commit", []string{"commit", "writer", "fatcommit:1"}, nil, 0, ""},
		{"cp", []string{"cp", big, "logger:/big.bin"}, nil, 0, ""},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			before, ctrs := images(), containers()
			fillLeaving(op.leave)
			var r testutil.Result
			if op.in != nil {
				r = o.dr.Run(context.Background(), bytes.NewReader(op.in), op.args...)
			} else {
				r = o.run(op.args...)
			}
			if r.Code == 0 {
				t.Errorf("%v succeeded on a full disk", op.args)
			} else if out := r.Stdout + r.Stderr; !strings.Contains(out, "no space left on device") || strings.Contains(out, "invalid tar archive") {
				t.Errorf("%v: want the disk's error and no word of a bad archive: %s", op.args, r)
			} else if !strings.Contains(out, op.out) {
				t.Errorf("%v: the disk filled before the point meant (no %q): %s", op.args, op.out, r)
			}
			if got := images(); got != before {
				t.Errorf("%v on a full disk changed the images:\n%s\n→\n%s", op.args, before, got)
			}
			if got := containers(); got != ctrs {
				t.Errorf("%v on a full disk changed the containers:\n%s\n→\n%s", op.args, ctrs, got)
			}
			leftovers := []string{"content/blobs/sha256/.ingest-*", "overlay/.unpack-*", "tmp/load-*", "tmp/docker-import-*", "overlay/build-*", "builder/tmp/*"}
			for _, pat := range leftovers {
				if m, _ := filepath.Glob(filepath.Join(data, pat)); len(m) > 0 {
					t.Errorf("%v left %v", op.args, m)
				}
			}
			os.Remove(filler)
			if op.in != nil {
				r = o.dr.Run(context.Background(), bytes.NewReader(op.in), op.args...)
			} else {
				r = o.run(op.args...)
			}
			if r.Code != 0 {
				t.Errorf("%v after space was freed: %s", op.args, r)
			}
		})
	}
	t.Run("logs", func(t *testing.T) {
		fill()
		defer os.Remove(filler)
		// Output while the log cannot grow: the container and the
		// daemon carry on, and the log keeps what was written.
		o.ok("exec", "logger", "sh", "-c", "head -c 2000000 /dev/urandom | od -x > /proc/1/fd/1")
		if got := o.ok("inspect", "-f", "{{.State.Status}}", "logger"); got != "running" {
			t.Errorf("logger is %s after logging onto a full disk", got)
		}
		if r := o.run("logs", "--tail", "1", "logger"); r.Code != 0 {
			t.Errorf("logs on a full disk: %s", r)
		}
		os.Remove(filler)
		o.ok("exec", "logger", "sh", "-c", "echo after-full > /proc/1/fd/1")
		if out := o.ok("logs", "--tail", "1", "logger"); !strings.Contains(out, "after-full") {
			t.Errorf("log did not resume after space was freed: %q", out)
		}
		o.ok("stop", "-t", "1", "logger")
	})
}
