package content

import (
	_ "crypto/sha256"
	"os"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
)

func TestWriteVerify(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Put([]byte("hello"))
	if err != nil || d != digest.FromString("hello") || !s.Has(d) {
		t.Fatalf("put: %v %v", d, err)
	}
	w, err := s.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("other"))
	if _, err := w.Commit(d); !errdefs.IsInvalid(err) {
		t.Errorf("mismatch accepted: %v", err)
	}
	ents, _ := os.ReadDir(s.dir)
	if len(ents) != 1 {
		t.Errorf("temp file left behind: %v", ents)
	}
	if b, err := s.ReadAll(d); err != nil || string(b) != "hello" {
		t.Errorf("read: %q %v", b, err)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.Open(d); !errdefs.IsNotFound(err) {
		t.Errorf("open missing: %v", err)
	}
}
