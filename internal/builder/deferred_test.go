package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDeferredContext(t *testing.T) {
	big := make([]byte, 3<<20)
	rand.Read(big)
	replaced := bytes.Repeat([]byte("x"), 2<<20)
	ignored := bytes.Repeat([]byte("i"), 2<<20)
	mtime := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o640, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX})
		tw.Write(body)
	}
	add("Dockerfile", append([]byte("FROM scratch\n"), bytes.Repeat([]byte("#"), 2<<20)...))
	add("d/big.bin", big)
	add("dup.bin", bytes.Repeat([]byte("a"), 3<<20))
	add("dup.bin", replaced) // a later entry of the same name wins
	add("ignored.bin", ignored)
	tw.Close()

	dir := t.TempDir()
	sums := map[string]fileSum{}
	dc := newDeferredContent(dir, "Dockerfile")
	defer dc.release()
	if err := extractHashing(context.Background(), &buf, dir, sums, dc); err != nil {
		t.Fatal(err)
	}
	// Deferred: right size, no content yet. The Dockerfile is read from
	// disk while preparing, so it is never deferred.
	onDisk, _ := os.ReadFile(filepath.Join(dir, "d/big.bin"))
	if len(onDisk) != len(big) || bytes.Equal(onDisk, big) {
		t.Fatalf("big.bin: size %d, written already: %v", len(onDisk), bytes.Equal(onDisk, big))
	}
	if df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile")); !bytes.HasPrefix(df, []byte("FROM scratch")) {
		t.Fatal("the Dockerfile was deferred")
	}
	// The cache key of a COPY is the same from the recorded sums (before)
	// and from the files (after materialize).
	src := []source{{root: dir, rel: "d", base: "d", isDir: true}}
	fromSums, err := checksum(src, dir, sums)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "ignored.bin")) // as .dockerignore would
	if err := dc.materialize(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "d/big.bin")); !bytes.Equal(got, big) {
		t.Fatal("big.bin content not written")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dup.bin")); !bytes.Equal(got, replaced) {
		t.Fatalf("dup.bin: %d bytes, want the later entry's %d", len(got), len(replaced))
	}
	if _, err := os.Stat(filepath.Join(dir, "ignored.bin")); !os.IsNotExist(err) {
		t.Fatal("a removed file came back")
	}
	fi, _ := os.Stat(filepath.Join(dir, "d/big.bin"))
	if !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o640 {
		t.Fatalf("big.bin mtime %v mode %v, want %v 0640", fi.ModTime(), fi.Mode(), mtime)
	}
	fromDisk, _ := checksum(src, "", nil)
	if fromDisk != fromSums {
		t.Fatal("sums taken while streaming disagree with the materialized files")
	}
}
