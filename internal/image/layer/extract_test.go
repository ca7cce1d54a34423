package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/hostiletar"
	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// snapshot describes every file under dir: type, mode, owner, size,
// content, link target, device, xattrs, mtime (and atime for all but
// directories and links), and which names share an inode.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d mtime=%s", rel, st.Mode, st.Uid, st.Gid, stamp(st.Mtim))
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOATIME|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			f := os.NewFile(uintptr(fd), p)
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sum=%x atime=%s", st.Size, sha256.Sum256(b), stamp(st.Atim))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" rdev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if first, ok := inodes[st.Ino]; ok {
				line += " same-inode-as=" + first
			} else {
				inodes[st.Ino] = rel
			}
		}
		sz, _ := unix.Llistxattr(p, nil)
		if sz > 0 {
			buf := make([]byte, sz)
			sz, _ = unix.Llistxattr(p, buf)
			names := strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
			sort.Strings(names)
			for _, n := range names {
				v := make([]byte, 256)
				k, _ := unix.Lgetxattr(p, n, v)
				line += fmt.Sprintf(" xattr[%s]=%q", n, v[:max(k, 0)])
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stamp is a time as the snapshot shows it: "now" for a time the unpack
// itself gave (implied directories, the root), which differs run to run.
func stamp(ts unix.Timespec) string {
	if d := time.Since(time.Unix(ts.Unix())); d > -time.Hour && d < time.Hour {
		return "now"
	}
	return fmt.Sprint(ts.Nano())
}

type ent struct {
	hdr  tar.Header
	body string
}

func mkLayer(t *testing.T, es []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 123456789)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExtractMatchesGoArchive unpacks layers with every kind of entry
// both with the store's extractor and with go-archive's Unpack in overlay
// form (what layers were unpacked with before, and what dockerd does),
// and compares the trees.
func TestExtractMatchesGoArchive(t *testing.T) {
	needRoot(t)
	old := time.Unix(1600000000, 5)
	big := strings.Repeat("0123456789abcdef", (9<<20)/16+7) // over a writeback chunk
	cases := map[string][]ent{
		"kinds": {
			{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: old}},
			{hdr: tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0, Gid: 0}, body: "ELF..."},
			{hdr: tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: old}},
			{hdr: tar.Header{Name: "bin/ls", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}},
			{hdr: tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}, body: "setuid"},
			{hdr: tar.Header{Name: "bin/su-link", Typeflag: tar.TypeLink, Linkname: "bin/su", Mode: 0o4755, Uid: 3}},
			{hdr: tar.Header{Name: "usr/local/share/deep/file", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1001}, body: "implied parents"},
			{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
			{hdr: tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o2775, Uid: 33, Gid: 33}},
			{hdr: tar.Header{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
			{hdr: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8, Devminor: 0, Gid: 6}},
			{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}},
			{hdr: tar.Header{Name: "/abs/name", Typeflag: tar.TypeReg, Mode: 0o644}, body: "leading slash"},
			{hdr: tar.Header{Name: "etc/abs-link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}},
			{hdr: tar.Header{Name: "etc/hard-to-link", Typeflag: tar.TypeLink, Linkname: "bin/sh"}},
			{hdr: tar.Header{Name: "caps", Typeflag: tar.TypeReg, Mode: 0o755, AccessTime: time.Unix(1800000000, 0), Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.note": "hello", "SCHILY.xattr.trusted.x": "y"}}, body: "x"},
			{hdr: tar.Header{Name: "xdir/", Typeflag: tar.TypeDir, Mode: 0o700, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.d": "dir"}}},
			{hdr: tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644}, body: big},
			{hdr: tar.Header{Name: "empty", Typeflag: tar.TypeReg, Mode: 0o600}},
			{hdr: tar.Header{Name: "pre-epoch", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(-5, 0)}, body: "z"},
		},
		"whiteouts": {
			{hdr: tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "a/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644}},
			{hdr: tar.Header{Name: "a/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o644}},
			{hdr: tar.Header{Name: "b/.wh.gone-too", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 7, Gid: 8}},
			{hdr: tar.Header{Name: ".wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644}},
			{hdr: tar.Header{Name: ".wh.top", Typeflag: tar.TypeReg, Mode: 0o644}},
		},
		"replacements": {
			{hdr: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644}, body: "first"},
			{hdr: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o600}, body: "second"},
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "d/inner", Typeflag: tar.TypeReg, Mode: 0o644}, body: "in"},
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 5}},
			{hdr: tar.Header{Name: "d2/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "d2/x", Typeflag: tar.TypeReg, Mode: 0o644}, body: "x"},
			{hdr: tar.Header{Name: "d2", Typeflag: tar.TypeReg, Mode: 0o644}, body: "dir became a file"},
			{hdr: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "f"}},
			{hdr: tar.Header{Name: "l", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "l/y", Typeflag: tar.TypeReg, Mode: 0o644}, body: "y"},
			{hdr: tar.Header{Name: "g", Typeflag: tar.TypeReg, Mode: 0o644}, body: "g"},
			{hdr: tar.Header{Name: "g", Typeflag: tar.TypeSymlink, Linkname: "/nowhere"}},
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}},
			{hdr: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644}, body: "third, h keeps second"},
		},
	}
	tars := map[string][]byte{}
	for name, es := range cases {
		tars[name] = mkLayer(t, es)
	}
	// A real tree: the host's /etc and /usr/sbin as go-archive packs them
	// (hard links, symlinks, odd modes, xattrs where there are any).
	for _, dir := range []string{"/etc", "/usr/sbin"} {
		rc, err := archive.Tar(dir, compression.None)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		tars["host"+dir] = b
	}
	for name, b := range tars {
		t.Run(name, func(t *testing.T) {
			ref := t.TempDir()
			if err := archive.Unpack(bytes.NewReader(b), ref, &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat}); err != nil {
				t.Fatalf("go-archive: %v", err)
			}
			s, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.newPending("")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Abort()
			if err := p.unpack(context.Background(), bytes.NewReader(b)); err != nil {
				t.Fatalf("unpack: %v", err)
			}
			got, want := snapshot(t, filepath.Join(p.tmp, "diff")), snapshot(t, ref)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("trees differ\n got:\n%s\nwant (go-archive):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// The recording pass unpacks the same tree.
			p2, _, _, err := s.UnpackRecorded(context.Background(), "", bytes.NewReader(b), func(*tar.Header) error { return nil })
			if err != nil {
				t.Fatalf("UnpackRecorded: %v", err)
			}
			defer p2.Abort()
			if got2 := snapshot(t, filepath.Join(p2.tmp, "diff")); strings.Join(got2, "\n") != strings.Join(got, "\n") {
				t.Errorf("UnpackRecorded made another tree:\n%s", strings.Join(got2, "\n"))
			}
		})
	}
}

// TestExtractHostileStaysInside unpacks the hostile corpus with no path
// check in front: the extractor alone keeps every write in the layer.
func TestExtractHostileStaysInside(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	for _, c := range hostiletar.Corpus(outside) {
		t.Run(c.Name, func(t *testing.T) {
			s, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if p, err := s.Unpack(context.Background(), digest.FromBytes(c.Tar), bytes.NewReader(c.Tar)); err == nil {
				p.Abort()
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("wrote outside: %v", ents)
			}
		})
	}
}
