package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

// fixture makes a container root next to an "outside" directory that
// must never be touched, and returns both.
func fixture(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc/sub", root + "/tmp", root + "/var", outside} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(root+"/etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(root+"/etc/sub/a", []byte("aaa"), 0o600))
	must(t, os.Link(root+"/etc/sub/a", root+"/etc/sub/hard"))
	must(t, os.WriteFile(outside+"/secret", []byte("host secret"), 0o600))
	must(t, os.Symlink("/etc", root+"/abs-etc"))           // absolute, container meaning
	must(t, os.Symlink("../../../../outside", root+"/up")) // climbs, clamped at the root
	must(t, os.Symlink("/run", root+"/var/run"))           // like Debian's /var/run
	must(t, os.Symlink("passwd", root+"/etc/pw"))
	return root, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestStat(t *testing.T) {
	root, _ := fixture(t)
	ctx := context.Background()
	tests := []struct {
		path, name, link string
		dir, symlink     bool
		size             int64
	}{
		{path: "/etc/passwd", name: "passwd", size: 26},
		{path: "/etc", name: "etc", dir: true},
		{path: "/etc/pw", name: "pw", symlink: true, link: "/etc/passwd"},
		{path: "/abs-etc", name: "abs-etc", symlink: true, link: "/etc"},
		{path: "/abs-etc/", name: "abs-etc", dir: true},
		{path: "/abs-etc/passwd", name: "passwd", size: 26},
		{path: "/../../etc/passwd", name: "passwd", size: 26},
		{path: "/etc/.", name: ".", dir: true},
		{path: "/", name: "/", dir: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			st, err := Stat(ctx, root, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Name != tt.name || st.Mode.IsDir() != tt.dir || (st.Mode&fs.ModeSymlink != 0) != tt.symlink || st.LinkTarget != tt.link {
				t.Errorf("stat = %+v", st)
			}
			if tt.size != 0 && st.Size != tt.size {
				t.Errorf("size = %d, want %d", st.Size, tt.size)
			}
		})
	}
	// Paths that would reach the host's files resolve inside the root and
	// are simply missing there.
	for _, p := range []string{"/nope", "/up/secret", "/../outside/secret", "/abs-etc/../../outside/secret", "/var/run/x"} {
		_, err := Stat(ctx, root, p)
		if !errdefs.IsNotFound(err) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: err = %v, want NotFound wrapping ErrNotExist", p, err)
		}
	}
	if _, err := Stat(ctx, filepath.Join(root, "missing-root"), "/"); !errdefs.IsNotFound(err) {
		t.Errorf("missing root: %v", err)
	}
}

func TestSymlinkLoop(t *testing.T) {
	root, _ := fixture(t)
	must(t, os.Symlink("loop2", root+"/loop1"))
	must(t, os.Symlink("/loop1", root+"/loop2"))
	if _, err := Stat(context.Background(), root, "/loop1/x"); err == nil || errdefs.IsNotFound(err) {
		t.Errorf("loop: err = %v", err)
	}
}

type entry struct {
	name, link string
	typ        byte
	body       string
}

func readTar(t *testing.T, rc io.ReadCloser) []entry {
	t.Helper()
	defer rc.Close()
	var out []entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, entry{name: h.Name, link: h.Linkname, typ: h.Typeflag, body: string(b)})
	}
}

func names(es []entry) []string {
	var n []string
	for _, e := range es {
		n = append(n, e.name)
	}
	return n
}

func TestTarPath(t *testing.T) {
	root, _ := fixture(t)
	ctx := context.Background()
	tests := []struct {
		path  string
		names []string
	}{
		{"/etc/sub", []string{"sub/", "sub/a", "sub/hard"}},
		{"/etc/sub/", []string{"sub/", "sub/a", "sub/hard"}},
		{"/etc/sub/.", []string{"./", "./a", "./hard"}},
		{"/etc/passwd", []string{"passwd"}},
		{"/etc/pw", []string{"pw"}},
		{"/abs-etc/sub", []string{"sub/", "sub/a", "sub/hard"}},
		{"/abs-etc", []string{"abs-etc"}},
		{"/abs-etc/", []string{"abs-etc/", "abs-etc/passwd", "abs-etc/pw", "abs-etc/sub/", "abs-etc/sub/a", "abs-etc/sub/hard"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rc, st, err := TarPath(ctx, root, tt.path)
			must(t, err)
			es := readTar(t, rc)
			if !slices.Equal(names(es), tt.names) {
				t.Errorf("names = %v, want %v", names(es), tt.names)
			}
			if st == nil {
				t.Fatal("no stat")
			}
		})
	}
	rc, _, err := TarPath(ctx, root, "/etc/sub")
	must(t, err)
	es := readTar(t, rc)
	if es[1].body != "aaa" || es[2].typ != tar.TypeLink || es[2].link != "sub/a" {
		t.Errorf("entries %+v", es)
	}
	rc, _, err = TarPath(ctx, root, "/etc/pw")
	must(t, err)
	if es := readTar(t, rc); es[0].typ != tar.TypeSymlink || es[0].link != "passwd" {
		t.Errorf("symlink entry %+v", es)
	}
	if _, _, err := TarPath(ctx, root, "/up/secret"); !errdefs.IsNotFound(err) {
		t.Errorf("escape via symlink: %v", err)
	}
	rc, _, err = TarPath(ctx, root, "/up/")
	if err == nil {
		// "/up" resolves to /outside inside the root, which is missing.
		readTar(t, rc)
		t.Error("tar of an escaping link target succeeded")
	}
}

type tarEntry struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
}

func mkTar(t *testing.T, es ...tarEntry) io.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Uid: e.uid, Gid: e.gid, ModTime: time.Unix(1700000000, 0)}
		must(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.body))
		must(t, err)
	}
	must(t, tw.Close())
	return &b
}
