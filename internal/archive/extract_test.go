package archive

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return string(b)
}

func assertOutsideUntouched(t *testing.T, outside string) {
	t.Helper()
	ents, err := os.ReadDir(outside)
	must(t, err)
	if len(ents) != 1 || ents[0].Name() != "secret" || read(t, filepath.Join(outside, "secret")) != "host secret" {
		t.Fatalf("outside directory changed: %v", ents)
	}
	for _, p := range []string{"/etc/berth-owned", "/owned", "/tmp/berth-owned"} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Fatalf("host file %s was written", p)
		}
	}
}

func TestExtract(t *testing.T) {
	root, outside := fixture(t)
	ctx := context.Background()
	r := mkTar(t,
		tarEntry{name: "d/", typ: tar.TypeDir, mode: 0o750},
		tarEntry{name: "d/f", typ: tar.TypeReg, body: "hello", mode: 0o4755, uid: 1000, gid: 1000},
		tarEntry{name: "d/l", typ: tar.TypeSymlink, link: "f"},
		tarEntry{name: "d/h", typ: tar.TypeLink, link: "d/f"},
		tarEntry{name: "deep/x/y", typ: tar.TypeReg, body: "y"},
		tarEntry{name: "fifo", typ: tar.TypeFifo},
	)
	must(t, Extract(ctx, root, "/tmp", r, false, true))
	if read(t, root+"/tmp/d/f") != "hello" || read(t, root+"/tmp/d/l") != "hello" || read(t, root+"/tmp/deep/x/y") != "y" {
		t.Error("content mismatch")
	}
	fi, err := os.Stat(root + "/tmp/d/f")
	must(t, err)
	if fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if os.Geteuid() == 0 {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("copyUIDGID: owner %d:%d", st.Uid, st.Gid)
		}
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Nlink != 2 {
		t.Errorf("hardlink not created: nlink %d", st.Nlink)
	}
	if fi, err := os.Lstat(root + "/tmp/fifo"); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v %v", fi, err)
	}
	if fi, err := os.Stat(root + "/tmp/d"); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("dir mode: %v %v", fi, err)
	}
	// Through a symlink to the destination, owner reset to root without copyUIDGID.
	must(t, Extract(ctx, root, "/abs-etc/sub", mkTar(t, tarEntry{name: "n", typ: tar.TypeReg, body: "n", uid: 1000}), false, false))
	if read(t, root+"/etc/sub/n") != "n" {
		t.Error("extract through /abs-etc did not land in the root's /etc")
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(root + "/etc/sub/n")
		must(t, err)
		if fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Error("owner not reset to container root")
		}
	}
	assertOutsideUntouched(t, outside)
}

func TestExtractDestination(t *testing.T) {
	root, _ := fixture(t)
	ctx := context.Background()
	err := Extract(ctx, root, "/nope", mkTar(t), false, false)
	if !errdefs.IsNotFound(err) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dst: %v", err)
	}
	if err := Extract(ctx, root, "/etc/passwd", mkTar(t), false, false); !errdefs.IsInvalid(err) || err.Error() != "extraction point is not a directory" {
		t.Errorf("file dst: %v", err)
	}
	if err := Extract(ctx, root, "/up", mkTar(t), false, false); !errdefs.IsNotFound(err) {
		t.Errorf("dst via escaping link must be missing inside the root: %v", err)
	}
	if err := Extract(ctx, root, "/tmp", strings.NewReader("not a tar archive at all, but long enough to fail......"+strings.Repeat("x", 600)), false, false); !errdefs.IsInvalid(err) {
		t.Errorf("garbage: %v", err)
	}
}

func TestExtractEscapes(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		wantErr bool
		check   func(t *testing.T, root string)
	}{
		{name: "dotdot name", entries: []tarEntry{{name: "../../outside/evil", typ: tar.TypeReg, body: "x"}}, wantErr: true},
		{name: "dotdot in the middle", entries: []tarEntry{{name: "a/../../../outside/evil", typ: tar.TypeReg, body: "x"}}, wantErr: true},
		{name: "absolute name stays in dst", entries: []tarEntry{{name: "/etc/berth-owned", typ: tar.TypeReg, body: "x"}},
			check: func(t *testing.T, root string) { _ = read(t, root+"/tmp/etc/berth-owned") }},
		{name: "relative symlink climbing out", entries: []tarEntry{{name: "esc", typ: tar.TypeSymlink, link: "../../../outside"}}, wantErr: true},
		{name: "absolute symlink then write through it", entries: []tarEntry{
			{name: "esc", typ: tar.TypeSymlink, link: "/etc"},
			{name: "esc/berth-owned", typ: tar.TypeReg, body: "x"},
		}, check: func(t *testing.T, root string) { _ = read(t, root+"/etc/berth-owned") }},
		{name: "symlink to / then deep write", entries: []tarEntry{
			{name: "r", typ: tar.TypeSymlink, link: "/"},
			{name: "r/tmp/berth-owned", typ: tar.TypeReg, body: "x"},
			{name: "r/../../owned", typ: tar.TypeReg, body: "x"},
		}, wantErr: true, check: func(t *testing.T, root string) { _ = read(t, root+"/tmp/berth-owned") }},
		{name: "write through existing escaping link", entries: []tarEntry{{name: "../up/evil", typ: tar.TypeReg, body: "x"}}, wantErr: true},
		{name: "hardlink climbing out", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "../../outside/secret"}}, wantErr: true},
		{name: "hardlink to an absolute host path", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, wantErr: true},
		{name: "hardlink through a symlink to the host", entries: []tarEntry{
			{name: "s", typ: tar.TypeSymlink, link: "/../outside"},
			{name: "h", typ: tar.TypeLink, link: "s/secret"},
		}, wantErr: true},
		{name: "replace dir symlink then write", entries: []tarEntry{
			{name: "up2", typ: tar.TypeSymlink, link: "/up"},
			{name: "up2/evil", typ: tar.TypeReg, body: "x"},
		}, check: func(t *testing.T, root string) { _ = read(t, root+"/outside/evil") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := fixture(t)
			err := Extract(context.Background(), root, "/tmp", mkTar(t, tt.entries...), false, false)
			if tt.wantErr && err == nil {
				t.Error("expected an error")
			}
			if !tt.wantErr && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, root)
			}
			assertOutsideUntouched(t, outside)
		})
	}
}

func TestExtractNoOverwriteDirNonDir(t *testing.T) {
	root, _ := fixture(t)
	ctx := context.Background()
	must(t, os.MkdirAll(root+"/tmp/dir", 0o755))
	must(t, os.WriteFile(root+"/tmp/file", nil, 0o644))
	err := Extract(ctx, root, "/tmp", mkTar(t, tarEntry{name: "dir", typ: tar.TypeReg, body: "x"}), true, false)
	if err == nil || err.Error() != `cannot overwrite directory "/tmp/dir" with non-directory "dir"` {
		t.Errorf("dir->file: %v", err)
	}
	err = Extract(ctx, root, "/tmp", mkTar(t, tarEntry{name: "file/", typ: tar.TypeDir}), true, false)
	if err == nil || err.Error() != `cannot overwrite non-directory "/tmp/file" with directory "file/"` {
		t.Errorf("file->dir: %v", err)
	}
	// Without the flag both are replaced.
	must(t, Extract(ctx, root, "/tmp", mkTar(t, tarEntry{name: "dir", typ: tar.TypeReg, body: "x"}, tarEntry{name: "file/", typ: tar.TypeDir}), false, false))
	if read(t, root+"/tmp/dir") != "x" {
		t.Error("dir not replaced")
	}
	if fi, err := os.Stat(root + "/tmp/file"); err != nil || !fi.IsDir() {
		t.Error("file not replaced by dir")
	}
}

func TestRoundTrip(t *testing.T) {
	root, outside := fixture(t)
	ctx := context.Background()
	rc, _, err := TarPath(ctx, root, "/etc")
	must(t, err)
	defer rc.Close()
	must(t, Extract(ctx, root, "/var", rc, false, true))
	if read(t, root+"/var/etc/sub/a") != "aaa" || read(t, root+"/var/etc/pw") != read(t, root+"/etc/passwd") {
		t.Error("round trip lost content")
	}
	assertOutsideUntouched(t, outside)
}

func TestCancelledContext(t *testing.T) {
	root, _ := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Extract(ctx, root, "/tmp", mkTar(t, tarEntry{name: "f", typ: tar.TypeReg, body: "x"}), false, false); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract: %v", err)
	}
	if _, err := os.Lstat(root + "/tmp/f"); err == nil {
		t.Error("cancelled extract wrote a file")
	}
	rc, _, err := TarPath(ctx, root, "/etc")
	must(t, err)
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("TarPath: %v", err)
	}
}
