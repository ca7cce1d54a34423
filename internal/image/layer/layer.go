// Package layer keeps unpacked image layers and container read-write
// layers on overlayfs under <root>/overlay:
//
//	overlay/<chainID hex>/diff     one image layer, unpacked once and shared
//	                               read-only by every image and container
//	                               whose stack contains it; whiteouts are in
//	                               overlay form (0/0 char devices, opaque xattr)
//	overlay/<chainID hex>/size     bytes of the unpacked layer (cached)
//	overlay/<chainID hex>/link     short name; overlay/l/<short> → ../<chainID hex>/diff
//	overlay/<ctrID>/lower          chain IDs of the image layers, bottom first
//	overlay/<ctrID>/{diff,work,merged}  upper, work and mount point
//	overlay/<ctrID>/empty          lower dir for images with no layers
//
// A layer is named by its chain ID, not its diff ID, because the same diff
// on top of different parents is a different filesystem.
package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
	tstar "github.com/vbatts/tar-split/archive/tar"
	"golang.org/x/sys/unix"
)

// Store manages layer and container directories.
type Store struct {
	dir string

	mu     sync.Mutex
	mounts map[string]int // container id → mount refcount
}

// New creates <root>/overlay.
func New(root string) (*Store, error) {
	dir := filepath.Join(root, "overlay")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	return &Store{dir: dir, mounts: map[string]int{}}, nil
}

// ChainIDs turns diff IDs (bottom first) into chain IDs as the OCI image
// spec defines them.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

func (s *Store) layerDir(chain digest.Digest) string {
	return filepath.Join(s.dir, chain.Encoded())
}

// DiffDir is the unpacked content of layer chain.
func (s *Store) DiffDir(chain digest.Digest) string {
	return filepath.Join(s.layerDir(chain), "diff")
}

// Has reports whether layer chain is unpacked.
func (s *Store) Has(chain digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(chain), "size"))
	return err == nil
}

// Apply unpacks the uncompressed layer tar r as layer chain, unless it is
// already there. The tar must have been checked for unsafe paths. The
// layer is built in a temp dir and renamed, so a half-unpacked layer is
// never visible under its real name.
func (s *Store) Apply(ctx context.Context, chain digest.Digest, r io.Reader) error {
	p, err := s.Unpack(ctx, chain, r)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is a layer unpacked into a private directory and not yet
// visible: nothing can find it as chain until Commit, which the caller
// makes only after every digest that names the content has been checked.
type Pending struct {
	s     *Store
	chain digest.Digest
	tmp   string // "" when the layer was already there
}

// Unpack unpacks the layer tar r into a private directory (see Pending).
func (s *Store) Unpack(ctx context.Context, chain digest.Digest, r io.Reader) (p *Pending, err error) {
	if s.Has(chain) {
		return &Pending{s: s, chain: chain}, nil
	}
	p, err = s.newPending(chain)
	if err != nil {
		return nil, err
	}
	if err := p.unpack(ctx, r); err != nil {
		p.Abort()
		return nil, err
	}
	return p, nil
}

// newPending makes the private directory a layer is unpacked into.
func (s *Store) newPending(chain digest.Digest) (*Pending, error) {
	tmp, err := os.MkdirTemp(s.dir, ".unpack-")
	if err != nil {
		return nil, fmt.Errorf("unpack layer: %w", err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "diff"), 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("unpack layer: %w", err)
	}
	return &Pending{s: s, chain: chain, tmp: tmp}, nil
}

// unpack unpacks the tar r into p's directory and notes its size.
func (p *Pending) unpack(ctx context.Context, r io.Reader) error {
	x, err := newExtractor(filepath.Join(p.tmp, "diff"))
	if err != nil {
		return fmt.Errorf("unpack layer: %w", err)
	}
	tr := tstar.NewReader(ctxReader{ctx, r})
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = x.entry(hdr, tr, io.Discard)
		} else {
			err = &TarError{err}
		}
		if err != nil {
			x.abort()
			return p.unpackError(ctx, err)
		}
	}
	if err := x.close(); err != nil {
		return p.unpackError(ctx, err)
	}
	return p.finish()
}

// unpackError names the layer in an unpack's error, and says whose fault
// it is (see classifyUnpackError).
func (p *Pending) unpackError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errdefs.IsClassified(err) {
		return err
	}
	if p.chain == "" {
		return classifyUnpackError(ctx, fmt.Errorf("unpack layer: %w", err))
	}
	return classifyUnpackError(ctx, fmt.Errorf("unpack layer %s: %w", p.chain, err))
}

// finish notes the size of the unpacked layer.
func (p *Pending) finish() error {
	size, err := DirSize(filepath.Join(p.tmp, "diff"))
	if err != nil {
		return fmt.Errorf("unpack layer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(p.tmp, "size"), []byte(strconv.FormatInt(size, 10)), 0o600); err != nil {
		return fmt.Errorf("unpack layer: %w", err)
	}
	return nil
}

// CommitAs makes the layer visible as chain (for a layer unpacked before
// its chain was known).
func (p *Pending) CommitAs(chain digest.Digest) error {
	p.chain = chain
	return p.Commit()
}

// Commit makes the layer visible as its chain ID.
func (p *Pending) Commit() error {
	if p.tmp == "" {
		return nil
	}
	tmp := p.tmp
	p.tmp = ""
	if err := os.Rename(tmp, p.s.layerDir(p.chain)); err != nil {
		os.RemoveAll(tmp)
		if p.s.Has(p.chain) { // a concurrent unpack of the same layer won
			return nil
		}
		return fmt.Errorf("unpack layer: %w", err)
	}
	_, err := p.s.ensureLink(p.chain)
	return err
}

// classifyUnpackError blames the archive for an unpack failure (a client
// error: the API answers 400) unless the host failed: the context ended,
// the disk is full or read-only, I/O failed, or we ran out of memory or
// descriptors. go-archive reports an archive's own faults in many shapes
// (invalid whiteouts, breakouts, names too long, truncated streams), so
// the host's are the list that can be written down.
func classifyUnpackError(ctx context.Context, err error) error {
	if ctx.Err() != nil || errdefs.IsClassified(err) {
		return err
	}
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO, syscall.ENOMEM,
		syscall.EMFILE, syscall.ENFILE, syscall.EACCES, syscall.EPERM} {
		if errors.Is(err, e) {
			return err
		}
	}
	return errdefs.Invalid(err)
}

// Abort throws the unpacked content away. Safe after Commit (no-op).
func (p *Pending) Abort() {
	if p != nil && p.tmp != "" {
		os.RemoveAll(p.tmp)
		p.tmp = ""
	}
}

// Size is the unpacked size of layer chain.
func (s *Store) Size(chain digest.Digest) int64 {
	b, err := os.ReadFile(filepath.Join(s.layerDir(chain), "size"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// Remove deletes layer chain. The caller makes sure nothing uses it.
func (s *Store) Remove(chain digest.Digest) error {
	s.removeLink(chain)
	if err := os.RemoveAll(s.layerDir(chain)); err != nil {
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	return nil
}

// Layers lists the chain IDs of all unpacked layers.
func (s *Store) Layers() ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		// Private directories (".unpack-*": layers being unpacked, not yet
		// checked) are nobody's to collect.
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, e.Name(), "size")); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// DirSize adds up the bytes of regular files under dir, counting a file
// with several hard links once, like Docker's overlay2 driver.
func DirSize(dir string) (int64, error) {
	seen := map[uint64]bool{}
	var size int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}

// writebackMin is the smallest file whose writeback an unpack starts
// before the final sync.
const writebackMin = 1 << 20

// ctxReader stops a long unpack when the request goes away.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Sync writes out everything on the filesystem the layers are on (one
// syncfs), so layers unpacked without fsyncs survive a crash once an
// image record names them.
func (s *Store) Sync() error {
	f, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("layer store: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("layer store: syncfs: %w", err)
	}
	return nil
}
