package image

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/content"
	"github.com/berth-project/berth/internal/image/layer"
	digest "github.com/opencontainers/go-digest"
)

// Ingest receives an image that arrives piece by piece (a registry pull):
// uncompressed layer tars, possibly in parallel, then the config. Everything
// it has written is held against GC until Close, which drops whatever no
// registered image ended up using.
type Ingest struct {
	s     *Store
	mu    sync.Mutex
	held  []digest.Digest
	wrote bool // a layer was unpacked: sync before the image is registered
}

// NewIngest starts an ingest. The caller must Close it.
func (s *Store) NewIngest() *Ingest { return &Ingest{s: s} }

// HasLayer reports whether the uncompressed layer diffID is already stored,
// so a pull can skip downloading it ("Already exists").
func (in *Ingest) HasLayer(diffID digest.Digest) bool {
	if !in.s.content.Has(diffID) {
		return false
	}
	in.s.hold(diffID)
	in.track(diffID)
	return true
}

// Layer stores the uncompressed layer tar read from r, which must hash to
// diffID (the config's rootfs.diff_ids entry). Safe for concurrent use.
func (in *Ingest) Layer(ctx context.Context, r io.Reader, diffID digest.Digest) error {
	d, err := in.s.ingestLayer(ctx, r, diffID)
	if err != nil {
		return err
	}
	in.track(d)
	// Verified and stored: a pull that fails later resumes from here.
	in.s.keepPartial(d)
	return nil
}

// HasLayerAt is HasLayer that also finds the layer unpacked as chain
// (pulled or loaded layers are kept unpacked only, with no blob).
func (in *Ingest) HasLayerAt(diffID, chain digest.Digest) bool {
	if in.s.layers.Has(chain) {
		in.s.hold(chain)
		in.track(chain)
		return true
	}
	return in.HasLayer(diffID)
}

// LayerAt stores the uncompressed layer tar r, which must hash to diffID,
// by unpacking it as chain while it streams in: the bytes are written
// once, to the layer's files, and the layer records how to give its tar
// back (layer.UnpackRecorded) instead of keeping a copy as a blob.
//
// The unpacked layer becomes visible (findable as chain by any other pull,
// load or build) only once every digest naming it holds: the diff ID,
// checked as the stream ends, then verify (the caller's check of the
// compressed digest). Until then it sits in a private directory; a blob
// whose tar ends before its bytes prove wrong can no longer leave its
// content in the store for the next user of the chain. A verified layer
// outlives a failed pull, for the next one to resume from.
func (in *Ingest) LayerAt(ctx context.Context, r io.Reader, diffID, chain digest.Digest, verify func() error) error {
	return in.layerAt(ctx, r, diffID, chain, verify, true)
}

// layerAt is LayerAt; keep says whether the layer outlives a failed
// ingest (a pull's do, to resume; a load is all or nothing).
func (in *Ingest) layerAt(ctx context.Context, r io.Reader, diffID, chain digest.Digest, verify func() error, keep bool) error {
	in.s.hold(chain) // until the image is registered (or the ingest closes)
	in.track(chain)
	if in.s.layers.Has(chain) {
		// Here already (a concurrent pull): still read and check the stream.
		dg := digest.Canonical.Digester()
		if _, err := io.Copy(dg.Hash(), ctxReader{ctx, r}); err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if dg.Digest() != diffID {
			return errdefs.Invalid(&content.MismatchError{Expected: diffID, Got: dg.Digest()})
		}
		return verify()
	}
	p, got, _, err := in.s.layers.UnpackRecorded(ctx, chain, r, newPathChecker().check)
	if err == nil && got != diffID {
		err = errdefs.Invalid(&content.MismatchError{Expected: diffID, Got: got})
	}
	if err == nil {
		err = verify()
	}
	if err != nil {
		if p != nil {
			p.Abort()
		}
		return err
	}
	if err := p.Commit(); err != nil {
		return err
	}
	in.noteWrote()
	if keep {
		in.s.keepPartial(chain)
	}
	return nil
}

func (in *Ingest) track(ds ...digest.Digest) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.held = append(in.held, ds...)
}

// Commit unpacks the layers named by the config raw, bottom first, calling
// extracted(i) after layer i is on disk, and indexes the image. Every layer
// must have been given to Layer (or found by HasLayer) first.
func (in *Ingest) Commit(ctx context.Context, raw []byte, extracted func(i int)) (*Image, error) {
	id := digest.FromBytes(raw)
	img, err := parseConfig(id, raw)
	if err != nil {
		return nil, err
	}
	chains := layer.ChainIDs(img.Layers)
	in.s.hold(chains...)
	in.track(chains...)
	for i, c := range chains {
		if !in.s.content.Has(img.Layers[i]) && !in.s.layers.Has(c) {
			return nil, errdefs.Invalidf("layer %s of image %s was not downloaded", img.Layers[i], id)
		}
		if err := in.s.unpack(ctx, c, img.Layers[i]); err != nil {
			return nil, fmt.Errorf("extract layer %s: %w", img.Layers[i], err)
		}
		if extracted != nil {
			extracted(i)
		}
	}
	if err := in.sync(); err != nil {
		return nil, err
	}
	return in.s.register(ctx, raw, "")
}

func (in *Ingest) noteWrote() {
	in.mu.Lock()
	in.wrote = true
	in.mu.Unlock()
}

// sync makes the layers this ingest unpacked durable, all at once (one
// syncfs of the store's filesystem) rather than file by file, before an
// image record can name them.
func (in *Ingest) sync() error {
	in.mu.Lock()
	wrote := in.wrote
	in.mu.Unlock()
	if !wrote {
		return nil
	}
	return in.s.layers.Sync()
}

// Close releases what the ingest held and collects what is now unused.
func (in *Ingest) Close(ctx context.Context) {
	in.mu.Lock()
	held := in.held
	in.held = nil
	in.mu.Unlock()
	in.s.release(held...)
	in.s.gc(ctx)
}

// Has reports whether an image with this ID (config digest) is stored.
func (s *Store) Has(id digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.images[id] != nil
}

// AddDigest records ref (name@digest, the manifest a pull fetched) as a
// repo digest of image id, so the image can be found by it and shows it in
// RepoDigests.
func (s *Store) AddDigest(ctx context.Context, id digest.Digest, ref string) error {
	name, err := normalize(ref)
	if err != nil {
		return errdefs.Invalid(err)
	}
	if !isDigestRef(name) {
		return errdefs.Invalidf("%s is not a digest reference", ref)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images[id] == nil {
		return errdefs.NotFoundf("No such image: %s", id)
	}
	s.refs[name] = id
	return s.saveRefsLocked()
}
