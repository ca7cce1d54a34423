// Package content is Berth's blob store: image configs and uncompressed
// layer tars, each stored once under content/blobs/sha256/<hex> and named
// by the digest of its bytes.
//
// A write goes to a temp file in the same directory, is hashed on the way,
// verified against the expected digest, fsynced and only then renamed into
// place, so a crash never leaves a blob whose name lies about its content.
package content

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// Store is a directory of blobs addressed by sha256 digest.
type Store struct {
	dir string
}

// New creates (if needed) <root>/content/blobs/sha256.
func New(root string) (*Store, error) {
	dir := filepath.Join(root, "content", "blobs", "sha256")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Path is where blob d lives (whether or not it exists).
func (s *Store) Path(d digest.Digest) string {
	return filepath.Join(s.dir, d.Encoded())
}

// Has reports whether blob d is present.
func (s *Store) Has(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.Path(d))
	return err == nil
}

// Open opens blob d for reading.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, errdefs.Invalidf("invalid digest %q: %v", d, err)
	}
	f, err := os.Open(s.Path(d))
	if os.IsNotExist(err) {
		return nil, errdefs.NotFoundf("blob %s not found", d)
	}
	return f, err
}

// ReadAll returns the bytes of blob d.
func (s *Store) ReadAll(d digest.Digest) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Size returns the length of blob d.
func (s *Store) Size(d digest.Digest) (int64, error) {
	fi, err := os.Stat(s.Path(d))
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Writer spools a blob to a temp file while hashing it. Commit names it by
// its digest; Discard throws it away. Exactly one of them must be called.
type Writer struct {
	s   *Store
	f   *os.File
	dg  digest.Digester
	n   int64
	out io.Writer
}

// NewWriter starts a blob.
func (s *Store) NewWriter() (*Writer, error) {
	f, err := os.CreateTemp(s.dir, ".ingest-*")
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	dg := digest.Canonical.Digester()
	return &Writer{s: s, f: f, dg: dg, out: io.MultiWriter(f, dg.Hash())}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.out.Write(p)
	w.n += int64(n)
	return n, err
}

// Digest is the digest of everything written so far.
func (w *Writer) Digest() digest.Digest { return w.dg.Digest() }

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Commit verifies the content against expected (if not empty), syncs it
// and renames it into place. It returns the blob's digest.
func (w *Writer) Commit(expected digest.Digest) (digest.Digest, error) {
	d := w.dg.Digest()
	if expected != "" && expected != d {
		w.Discard()
		return "", errdefs.Invalid(&MismatchError{Expected: expected, Got: d})
	}
	if err := w.f.Sync(); err != nil {
		w.Discard()
		return "", fmt.Errorf("content store: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return "", fmt.Errorf("content store: %w", err)
	}
	if err := os.Chmod(w.f.Name(), 0o600); err != nil {
		os.Remove(w.f.Name())
		return "", fmt.Errorf("content store: %w", err)
	}
	if err := os.Rename(w.f.Name(), w.s.Path(d)); err != nil {
		os.Remove(w.f.Name())
		return "", fmt.Errorf("content store: %w", err)
	}
	syncDir(w.s.dir)
	return d, nil
}

// MismatchError is content that is not what its digest said.
type MismatchError struct{ Expected, Got digest.Digest }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("content digest mismatch: expected %s, got %s", e.Expected, e.Got)
}

// Discard removes the temp file.
func (w *Writer) Discard() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// Put stores b and returns its digest.
func (s *Store) Put(b []byte) (digest.Digest, error) {
	w, err := s.NewWriter()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(b); err != nil {
		w.Discard()
		return "", fmt.Errorf("content store: %w", err)
	}
	return w.Commit("")
}

// Delete removes blob d; a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	if d.Validate() != nil {
		return nil
	}
	if err := os.Remove(s.Path(d)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("content store: %w", err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// List returns the digests of all committed blobs.
func (s *Store) List() ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}
