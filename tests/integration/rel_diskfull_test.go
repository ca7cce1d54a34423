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
	fill := func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		f.Close()
	}
	big := filepath.Join(dir, "big.bin")
	b := make([]byte, 4<<20)
	rand.Read(b)
	os.WriteFile(big, b, 0o644)
	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nRUN head -c 4000000 /dev/urandom > /blob\n"), 0o644)
	var imgTar bytes.Buffer
	if err := testutil.BusyboxTarWith(&imgTar, false, map[string]string{"/opt/blob": string(b)}); err != nil {
		t.Fatal(err)
	}
	images := func() string { return o.ok("images", "-aq", "--no-trunc") }
	ops := []struct {
		name string
		args []string
		in   []byte
	}{
		{"import", []string{"import", "-", "fat:1"}, imgTar.Bytes()},
		{"build", []string{"build", "-q", "-t", "fatbuild:1", ctxDir}, nil},
		{"commit", []string{"commit", "writer", "fatcommit:1"}, nil},
		{"cp", []string{"cp", big, "logger:/big.bin"}, nil},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			before := images()
			fill()
			var r testutil.Result
			if op.in != nil {
				r = o.dr.Run(context.Background(), bytes.NewReader(op.in), op.args...)
			} else {
				r = o.run(op.args...)
			}
			if r.Code == 0 {
				t.Errorf("%v succeeded on a full disk", op.args)
			} else if !strings.Contains(r.Stdout+r.Stderr, "no space left on device") {
				t.Errorf("%v: want the disk's error: %s", op.args, r)
			}
			if got := images(); got != before {
				t.Errorf("%v on a full disk changed the images:\n%s\n→\n%s", op.args, before, got)
			}
			leftovers := []string{"content/blobs/sha256/.ingest-*", "overlay/.unpack-*", "tmp/load-*", "overlay/build-*", "builder/tmp/*"}
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
