package image

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// The list of kept layers is written without fsync, and its layers are
// not durable until an image's sync: entries from before this boot are
// dropped when the store opens, newer ones kept.
func TestPartialBeforeBootDropped(t *testing.T) {
	boot, ok := bootTime()
	if !ok {
		t.Skip("no btime in /proc/stat")
	}
	if time.Since(boot) < time.Minute {
		t.Skip("booted less than a minute ago")
	}
	root := t.TempDir()
	old := digest.FromString("stored before the boot")
	cur := digest.FromString("stored in this boot")
	b, _ := json.Marshal(map[digest.Digest]time.Time{old: boot.Add(-time.Minute), cur: time.Now().Add(-time.Second)})
	if err := os.MkdirAll(filepath.Join(root, "image"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "image", "partial.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.partial[old]; ok {
		t.Error("a layer kept before this boot is still trusted")
	}
	if _, ok := s.partial[cur]; !ok {
		t.Error("a layer kept in this boot was dropped")
	}
}
