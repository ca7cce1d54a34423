package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/content"
	"github.com/berth-project/berth/internal/image/layer"
	digest "github.com/opencontainers/go-digest"
)

// pathChecker rejects tar entries that would land outside the directory
// they are unpacked into: absolute names, ".." escapes, and paths or hard
// link targets that go through a symlink made earlier in the same archive.
// It also rejects a path under an earlier entry that is not a directory
// (a file, fifo or device): no extractor can make it, and go-archive's
// overlay whiteout handling blocked forever opening a fifo named as a
// whiteout's parent.
type pathChecker struct {
	symlinks map[string]bool
	nondirs  map[string]bool
}

func newPathChecker() *pathChecker {
	return &pathChecker{symlinks: map[string]bool{}, nondirs: map[string]bool{}}
}

func (c *pathChecker) clean(name string) (string, error) {
	if path.IsAbs(name) {
		return "", errdefs.Invalidf("invalid archive: absolute path %q", name)
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errdefs.Invalidf("invalid archive: path %q escapes the root", name)
	}
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if c.symlinks[dir] {
			return "", errdefs.Invalidf("invalid archive: path %q goes through symlink %q", name, dir)
		}
		if c.nondirs[dir] {
			return "", errdefs.Invalidf("invalid archive: path %q goes through %q, which is not a directory", name, dir)
		}
	}
	return p, nil
}

func (c *pathChecker) check(hdr *tar.Header) error {
	p, err := c.clean(hdr.Name)
	if err != nil {
		return err
	}
	if p == "." && hdr.Typeflag != tar.TypeDir {
		return errdefs.Invalidf("invalid archive: the root %q is not a directory", hdr.Name)
	}
	if hdr.Typeflag == tar.TypeLink {
		if _, err := c.clean(hdr.Linkname); err != nil {
			return errdefs.Invalidf("invalid archive: hard link %q to %q: %v", hdr.Name, hdr.Linkname, err)
		}
	}
	delete(c.symlinks, p)
	delete(c.nondirs, p)
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		c.symlinks[p] = true
	case tar.TypeDir:
	default:
		c.nondirs[p] = true
	}
	return nil
}

// tarError is a layer that is no valid tar; load reports the tar
// reader's error alone, as dockerd does.
type tarError struct{ err error }

func (e *tarError) Error() string { return "invalid tar archive: " + e.err.Error() }
func (e *tarError) Unwrap() error { return e.err }

// blobWriter remembers the first error of writing the blob.
type blobWriter struct {
	w   io.Writer
	err error
}

func (b *blobWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// ingestLayer copies an uncompressed layer tar into the content store,
// checking every entry on the way, and returns its diff ID. If expected is
// set the content must match it. The blob is held: the caller releases it
// once the image using it is registered (or has failed).
func (s *Store) ingestLayer(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, error) {
	if expected != "" && s.content.Has(expected) {
		s.hold(expected)
		return expected, nil
	}
	w, err := s.content.NewWriter()
	if err != nil {
		return "", err
	}
	// The tar reader sees the blob's write errors as read errors: keep
	// them apart, so that a full disk is reported as such and not as a
	// bad archive.
	bw := &blobWriter{w: w}
	tee := io.TeeReader(r, bw)
	tr := tar.NewReader(tee)
	chk := newPathChecker()
	for {
		if err := ctx.Err(); err != nil {
			w.Discard()
			return "", err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Discard()
			if bw.err != nil {
				return "", fmt.Errorf("content store: %w", bw.err)
			}
			return "", errdefs.Invalid(&tarError{err})
		}
		if err := chk.check(hdr); err != nil {
			w.Discard()
			return "", err
		}
	}
	// The padding after the end marker is part of the diff ID.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		w.Discard()
		if bw.err != nil {
			return "", fmt.Errorf("content store: %w", bw.err)
		}
		return "", fmt.Errorf("read layer: %w", err)
	}
	d, err := w.Commit(expected)
	if err != nil {
		return "", err
	}
	s.hold(d)
	return d, nil
}

// register stores config raw for an image whose layer blobs are already in
// the content store, unpacks missing layers and indexes it. On failure
// it leaves nothing behind that no other image uses.
func (s *Store) register(ctx context.Context, raw []byte, parent digest.Digest) (*Image, error) {
	id := digest.FromBytes(raw)
	img, err := parseConfig(id, raw)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if old := s.images[id]; old != nil {
		defer s.mu.Unlock()
		return s.view(old), nil
	}
	s.mu.Unlock()
	s.hold(id) // the config blob, until indexed
	defer s.release(id)
	fail := func(err error) (*Image, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.gcLocked(ctx)
		return nil, err
	}
	if _, err := s.content.Put(raw); err != nil {
		return fail(err)
	}
	chains := layer.ChainIDs(img.Layers)
	held := append([]digest.Digest{id}, chains...)
	s.hold(held...)
	defer s.release(held...)
	for i, c := range chains {
		if err := s.unpack(ctx, c, img.Layers[i]); err != nil {
			return fail(err)
		}
		img.Size += s.layers.Size(c)
	}
	img.Parent = parent
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writeRecord(id, record{Parent: parent}); err != nil {
		s.gcLocked(ctx)
		return nil, err
	}
	s.images[id] = img
	return s.view(img), nil
}

// unpack makes layer chain from its diff: the blob diffID, or the tar
// another layer with the same diff recorded (found among hints, then the
// images' layers).
func (s *Store) unpack(ctx context.Context, chain, diffID digest.Digest, hints ...digest.Digest) error {
	if s.layers.Has(chain) {
		return nil
	}
	if f, err := s.content.Open(diffID); err == nil {
		defer f.Close()
		return s.layers.Apply(ctx, chain, f)
	}
	rc, _, err := s.openLayerTar(diffID, hints...)
	if err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer rc.Close()
	p, got, _, err := s.layers.UnpackRecorded(ctx, chain, rc, newPathChecker().check)
	if err == nil && got != diffID {
		err = errdefs.Invalid(&content.MismatchError{Expected: diffID, Got: got})
	}
	if err != nil {
		if p != nil {
			p.Abort()
		}
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	return p.Commit()
}

// openLayerTar opens the uncompressed tar diffID: its blob, or as put back
// together from a layer unpacked from it (among hints, the chains it is
// likely at, then the images' layers). The layer it reads from is held
// until the reader is closed.
func (s *Store) openLayerTar(diffID digest.Digest, hints ...digest.Digest) (io.ReadCloser, int64, error) {
	if f, err := s.content.Open(diffID); err == nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("layer %s: %w", diffID, err)
		}
		return f, fi.Size(), nil
	}
	for _, c := range s.tarChains(diffID, hints...) {
		s.hold(c)
		if d, _, ok := s.layers.HasTar(c); !ok || d != diffID { // collected in between
			s.release(c)
			continue
		}
		rc, size, err := s.layers.OpenTar(c)
		if err != nil {
			s.release(c)
			return nil, 0, err
		}
		return &heldReader{ReadCloser: rc, release: func() { s.release(c) }}, size, nil
	}
	return nil, 0, errdefs.NotFoundf("blob %s not found", diffID)
}

// tarChains lists the layers that recorded the tar diffID: among hints,
// then the images' layers.
func (s *Store) tarChains(diffID digest.Digest, hints ...digest.Digest) []digest.Digest {
	cands := append([]digest.Digest(nil), hints...)
	s.mu.Lock()
	for _, img := range s.images {
		for i, c := range layer.ChainIDs(img.Layers) {
			if img.Layers[i] == diffID {
				cands = append(cands, c)
			}
		}
	}
	s.mu.Unlock()
	var out []digest.Digest
	for _, c := range cands {
		if d, _, ok := s.layers.HasTar(c); ok && d == diffID {
			out = append(out, c)
		}
	}
	return out
}

// heldReader releases what it held when closed.
type heldReader struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (h *heldReader) Close() error {
	err := h.ReadCloser.Close()
	h.once.Do(h.release)
	return err
}

// gcLocked removes layer dirs, layer blobs and config blobs that no image
// or container uses any more. s.mu is held.
func (s *Store) gcLocked(ctx context.Context) []digest.Digest {
	usedChains := map[digest.Digest]bool{}
	usedBlobs := map[digest.Digest]bool{}
	for d := range s.pending {
		usedChains[d], usedBlobs[d] = true, true
	}
	for id, img := range s.images {
		usedBlobs[id] = true
		for _, l := range img.Layers {
			usedBlobs[l] = true
		}
		for _, c := range layer.ChainIDs(img.Layers) {
			usedChains[c] = true
		}
	}
	s.partialInUseLocked(usedChains, usedBlobs)
	rw, err := s.layers.RWLayers()
	if err != nil {
		return nil // unsure what containers use: keep everything
	}
	for _, chains := range rw {
		for _, c := range chains {
			usedChains[c] = true
		}
	}
	var removed []digest.Digest
	chains, _ := s.layers.Layers()
	for _, c := range chains {
		if !usedChains[c] && s.layers.Remove(c) == nil {
			removed = append(removed, c)
		}
	}
	blobs, _ := s.content.List()
	for _, b := range blobs {
		if !usedBlobs[b] {
			s.content.Delete(b)
		}
	}
	return removed
}

// marshalConfig renders cf as the config blob.
func marshalConfig(cf *configFile) ([]byte, error) {
	b, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}
	return b, nil
}
