package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for overlay mounts and device nodes")
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		h.ModTime = time.Unix(1700000000, 0)
		h.Size = int64(len(e.body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// busyboxTar is a minimal rootfs from the host's static busybox.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Skip("no /usr/bin/busybox")
	}
	es := []entry{
		{hdr: tar.Header{Name: "bin/", Typeflag: tar.TypeDir}},
		{hdr: tar.Header{Name: "etc/", Typeflag: tar.TypeDir}},
		{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		{hdr: tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg}, body: bb},
		{hdr: tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, body: []byte("root:x:0:0:root:/root:/bin/sh\n")},
	}
	for _, n := range []string{"sh", "echo", "ls", "cat", "true"} {
		es = append(es, entry{hdr: tar.Header{Name: "bin/" + n, Typeflag: tar.TypeSymlink, Linkname: "busybox"}})
	}
	return makeTar(t, es)
}

func importBusybox(t *testing.T, s *Store) *Image {
	t.Helper()
	img, err := s.Import(context.Background(), bytes.NewReader(busyboxTar(t)), []string{`CMD ["sh"]`}, "")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// createRW makes a container layer that is removed (and unmounted) when
// the test ends.
func createRW(t *testing.T, s *Store, id string, img *Image) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateRW(ctx, id, img); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.RemoveRW(context.Background(), id); err != nil {
			t.Errorf("cleanup %s: %v", id, err)
		}
	})
}

// changeRW writes a file into container id's rw layer, so a commit of it
// has a layer to add (an unchanged container's adds none).
func changeRW(t *testing.T, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	root, err := s.Mount(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "changed-"+id), []byte(id), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func tarNames(t *testing.T, r io.Reader) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Clean(h.Name)] = true
	}
}

func newGzip(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func tarHdr(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}
}

func mustRead(t *testing.T, s *Store, img *Image) []byte {
	t.Helper()
	b, err := s.content.ReadAll(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
