package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (whiteouts are device nodes)")
	}
}

// recordedTar is a layer with what real layers have: directories (one
// listed twice), files, a hard link, a symlink, whiteouts, long names (PAX
// headers) and padding after the end marker.
func recordedTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 120)
	for _, e := range []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644}, "hello\n"},
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "etc/link", Typeflag: tar.TypeLink, Linkname: "etc/motd"}, ""},
		{tar.Header{Name: "etc/sym", Typeflag: tar.TypeSymlink, Linkname: "motd"}, ""},
		{tar.Header{Name: "etc/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o600}, ""},
		{tar.Header{Name: "opq/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "opq/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600}, ""},
		{tar.Header{Name: strings.Repeat("d", 120) + "/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: long, Typeflag: tar.TypeReg, Mode: 0o644}, strings.Repeat("x", 70000)},
		{tar.Header{Name: "empty", Typeflag: tar.TypeReg, Mode: 0o644}, ""},
	} {
		h := e.h
		h.ModTime = mt
		h.Size = int64(len(e.body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	buf.Write(make([]byte, 4096)) // padding some writers add
	return buf.Bytes()
}

func allow(*tar.Header) error { return nil }

func TestUnpackRecordedGivesTheTarBack(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := recordedTar(t)
	chain := digest.FromBytes(tb)
	p, got, size, err := s.UnpackRecorded(ctx, chain, bytes.NewReader(tb), allow)
	if err != nil {
		t.Fatal(err)
	}
	if got != chain || size != int64(len(tb)) {
		t.Fatalf("digest %s size %d, want %s %d", got, size, chain, len(tb))
	}
	if s.Has(chain) {
		t.Fatal("visible before Commit")
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(s.DiffDir(chain), "etc", "motd")); err != nil || string(b) != "hello\n" {
		t.Fatalf("unpacked motd: %q %v", b, err)
	}
	d, n, ok := s.HasTar(chain)
	if !ok || d != chain || n != int64(len(tb)) {
		t.Fatalf("HasTar = %s %d %v", d, n, ok)
	}
	rc, n, err := s.OpenTar(chain)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(tb)) || !bytes.Equal(out, tb) {
		t.Fatalf("the tar given back differs: %d bytes (said %d), want %d", len(out), n, len(tb))
	}

	// A file changed under the layer: the tar does not come back wrong.
	if err := os.WriteFile(filepath.Join(s.DiffDir(chain), "etc", "motd"), []byte("HELLO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, _, err = s.OpenTar(chain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("a changed file was given back without an error")
	}
	rc.Close()

	// A file replaced by a symlink to the host's files is not followed.
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(strings.Repeat("s", 6)), 0o600)
	motd := filepath.Join(s.DiffDir(chain), "etc", "motd")
	os.Remove(motd)
	if err := os.Symlink(secret, motd); err != nil {
		t.Fatal(err)
	}
	rc, _, err = s.OpenTar(chain)
	if err != nil {
		t.Fatal(err)
	}
	out, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || bytes.Contains(out, []byte("ssssss")) {
		t.Fatalf("a symlinked file was followed: err %v", err)
	}
}

func TestUnpackRecordedRefuses(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := recordedTar(t)
	refuse := func(h *tar.Header) error {
		if h.Typeflag == tar.TypeSymlink {
			return os.ErrPermission
		}
		return nil
	}
	if _, _, _, err := s.UnpackRecorded(ctx, digest.FromBytes(tb), bytes.NewReader(tb), refuse); err == nil {
		t.Fatal("an entry the check refused was unpacked")
	}
	if _, _, _, err := s.UnpackRecorded(ctx, digest.FromBytes(tb), bytes.NewReader(tb[:700]), allow); err == nil {
		t.Fatal("a truncated tar was accepted")
	}
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".unpack-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
