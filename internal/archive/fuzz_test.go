package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/hostiletar"
)

// FuzzExtract feeds arbitrary tar streams to the cp/archive extractor:
// whatever the stream, it must not panic and must write nothing outside the
// container root. The seeds are the hostile archive corpus.
func FuzzExtract(f *testing.F) {
	for _, c := range hostiletar.Corpus("/nonexistent-outside") {
		f.Add(c.Tar)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		for _, d := range []string{root, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_ = Extract(context.Background(), root, "/", bytes.NewReader(data), false, false)
		assertNothingOutside(t, base, outside)
	})
}

// TestExtractHostileCorpus runs every hostile archive, aimed at a real
// directory beside the root, and checks that the escaping ones are refused
// with an invalid-argument error or kept inside the root.
func TestExtractHostileCorpus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (device nodes, ownership)")
	}
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range hostiletar.Corpus(outside) {
		t.Run(c.Name, func(t *testing.T) {
			root := filepath.Join(base, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(root)
			err := Extract(context.Background(), root, "/", bytes.NewReader(c.Tar), false, false)
			assertNothingOutside(t, base, outside)
			if err != nil && !errdefs.IsClassified(err) {
				t.Errorf("error is not a client error: %v", err)
			}
		})
	}
}

func assertNothingOutside(t *testing.T, base, outside string) {
	t.Helper()
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote outside the root: %v", ents)
	}
	if ents, _ := os.ReadDir(base); len(ents) > 2 {
		t.Fatalf("wrote beside the root: %v", ents)
	}
	if _, err := os.Lstat("/tmp/berth-hostile-pwned"); err == nil {
		os.Remove("/tmp/berth-hostile-pwned")
		t.Fatal("wrote /tmp/berth-hostile-pwned")
	}
}
