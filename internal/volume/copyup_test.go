package volume

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopyUpPreservesMetadata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	ctx := context.Background()
	s, _ := newStore(t)
	rootfs := t.TempDir()
	// /data is a symlink with an absolute target: it must resolve inside rootfs.
	must(t, os.MkdirAll(filepath.Join(rootfs, "srv/data/sub"), 0o755))
	must(t, os.Symlink("/srv/data", filepath.Join(rootfs, "data")))
	must(t, os.Chown(filepath.Join(rootfs, "srv/data"), 1000, 1001))
	must(t, os.Chmod(filepath.Join(rootfs, "srv/data"), 0o770))
	f := filepath.Join(rootfs, "srv/data/sub/file")
	must(t, os.WriteFile(f, []byte("hello"), 0o640))
	must(t, os.Chown(f, 42, 43))
	must(t, unix.Chmod(f, 0o4750))
	must(t, os.Link(f, filepath.Join(rootfs, "srv/data/hard")))
	must(t, os.Symlink("sub/file", filepath.Join(rootfs, "srv/data/link")))
	xattrOK := unix.Lsetxattr(f, "user.berth", []byte("x1"), 0) == nil

	v, err := s.Create(ctx, "", "", nil, nil)
	must(t, err)
	copied, err := s.CopyUp(ctx, v.Name, rootfs, "/data")
	if err != nil || !copied {
		t.Fatalf("CopyUp = %v, %v", copied, err)
	}
	var st syscall.Stat_t
	must(t, syscall.Stat(v.Mountpoint, &st))
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&07777 != 0o770 {
		t.Errorf("volume root %d:%d %o, want 1000:1001 770", st.Uid, st.Gid, st.Mode&07777)
	}
	vf := filepath.Join(v.Mountpoint, "sub/file")
	must(t, syscall.Stat(vf, &st))
	if st.Uid != 42 || st.Gid != 43 || st.Mode&07777 != 0o4750 {
		t.Errorf("file %d:%d %o, want 42:43 4750", st.Uid, st.Gid, st.Mode&07777)
	}
	if b, _ := os.ReadFile(vf); string(b) != "hello" {
		t.Errorf("content %q", b)
	}
	var hst syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(v.Mountpoint, "hard"), &hst))
	if hst.Ino != st.Ino {
		t.Error("hard link not preserved")
	}
	if l, err := os.Readlink(filepath.Join(v.Mountpoint, "link")); err != nil || l != "sub/file" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	if xattrOK {
		if val, err := getXattr(vf, "user.berth"); err != nil || string(val) != "x1" {
			t.Errorf("xattr = %q, %v", val, err)
		}
	}
	// A second copy-up does nothing: the volume is no longer empty.
	must(t, os.WriteFile(filepath.Join(rootfs, "srv/data/new"), nil, 0o644))
	if copied, err := s.CopyUp(ctx, v.Name, rootfs, "/data"); err != nil || copied {
		t.Fatalf("second CopyUp = %v, %v", copied, err)
	}
	// Nothing in the image at the path: nothing copied, no error.
	v2, _ := s.Create(ctx, "", "", nil, nil)
	if copied, err := s.CopyUp(ctx, v2.Name, rootfs, "/missing"); err != nil || copied {
		t.Fatalf("CopyUp of a missing path = %v, %v", copied, err)
	}
}

func TestResolveInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	must(t, os.Symlink("../../../etc", filepath.Join(root, "up")))
	must(t, os.Symlink("/etc", filepath.Join(root, "abs")))
	for _, p := range []string{"/up", "/abs", "/../../etc"} {
		got, err := resolveInRoot(root, p)
		if err != nil || got != filepath.Join(root, "etc") {
			t.Errorf("resolve %s = %q, %v; want %s", p, got, err, filepath.Join(root, "etc"))
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
