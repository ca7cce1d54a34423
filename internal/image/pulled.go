package image

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/layer"
	digest "github.com/opencontainers/go-digest"
)

// Ingest receives an image that arrives piece by piece (a registry pull):
// uncompressed layer tars, possibly in parallel, then the config. Everything
// it has written is held against GC until Close, which drops whatever no
// registered image ended up using.
type Ingest struct {
	s    *Store
	mu   sync.Mutex
	held []digest.Digest
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

// LayerAt is Layer that also unpacks the layer, as chain, while it streams
// in, so a pull extracts while it downloads instead of after. A layer or
// blob that is already here goes the plain way.
//
// The unpacked layer becomes visible (findable as chain by any other pull,
// load or build) only once every digest naming it holds: the diff ID,
// checked by Layer as the stream ends, then verify (the caller's check of
// the compressed digest). Until then it sits in a private directory; a
// blob whose tar ends before its bytes prove wrong can no longer leave its
// content in the store for the next user of the chain.
func (in *Ingest) LayerAt(ctx context.Context, r io.Reader, diffID, chain digest.Digest, verify func() error) error {
	return in.layerAt(ctx, r, diffID, chain, verify, in.Layer)
}

// layerAt is LayerAt with store as the way the blob is kept: Layer for a
// pull (verified layers outlive a failed pull, to resume it), ingest for a
// load (all or nothing).
func (in *Ingest) layerAt(ctx context.Context, r io.Reader, diffID, chain digest.Digest, verify func() error, store func(context.Context, io.Reader, digest.Digest) error) error {
	if in.s.layers.Has(chain) || in.s.content.Has(diffID) {
		if err := store(ctx, r, diffID); err != nil {
			return err
		}
		return verify()
	}
	in.s.hold(chain) // until the image is registered (or the ingest closes)
	in.track(chain)
	pr, pw := io.Pipe()
	type result struct {
		p   *layer.Pending
		err error
	}
	applied := make(chan result, 1)
	go func() {
		p, err := in.s.layers.Unpack(ctx, chain, pr)
		// Unpack stops at the tar's end marker: drain the rest so the
		// download never blocks on it.
		io.Copy(io.Discard, pr)
		applied <- result{p, err}
	}()
	err := store(ctx, io.TeeReader(r, pw), diffID)
	pw.CloseWithError(err)
	res := <-applied
	if err == nil {
		err = res.err
	}
	if err == nil {
		err = verify()
	}
	if err != nil {
		res.p.Abort()
		return err
	}
	return res.p.Commit()
}

// ingest stores the layer blob as Layer does, without keeping it past a
// failure.
func (in *Ingest) ingest(ctx context.Context, r io.Reader, diffID digest.Digest) error {
	d, err := in.s.ingestLayer(ctx, r, diffID)
	if err != nil {
		return err
	}
	in.track(d)
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
	return in.s.register(ctx, raw, "")
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
