package distribution

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// maxDownloads is Docker's default max-concurrent-downloads.
const maxDownloads = 3

// PullOptions says what to pull and how.
type PullOptions struct {
	Platform string // "os/arch[/variant]"; empty means this host
	Auth     authn.Authenticator
}

// Result is what a pull stored.
type Result struct {
	Image    *image.Image
	Ref      string        // normalized name:tag or name@digest
	Digest   digest.Digest // manifest (or index) digest from the registry
	UpToDate bool          // the reference already named this image
}

// Pull fetches ref (name[:tag] or name@digest) and stores it in store,
// tagging it when pulled by tag. Nothing is written to progress before the
// manifest is resolved, so a missing image is an ordinary error.
func Pull(ctx context.Context, store *image.Store, ref string, opts PullOptions, progress io.Writer) (*Result, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	named = reference.TagNameOnly(named)
	remoteRef, err := toRemote(named)
	if err != nil {
		return nil, err
	}
	plat, err := platform(opts.Platform)
	if err != nil {
		return nil, err
	}
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithPlatform(*plat)}
	desc, err := remote.Get(remoteRef, ropts...)
	if err != nil {
		return nil, translate(named, err)
	}
	img, err := desc.Image() // resolves an index to plat
	if err != nil {
		return nil, translate(named, err)
	}
	rep := newReporter(progress)
	p := &puller{store: store, rep: rep, img: img}
	tagged, isTagged := named.(reference.Tagged)
	if isTagged {
		rep.status(tagged.Tag(), "Pulling from "+reference.Path(named))
	} else {
		rep.status(digestOf(named), "Pulling from "+reference.Path(named))
	}
	stored, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Image: stored, Ref: named.String(), Digest: digest.Digest(desc.Digest.String())}
	if cur, err := store.Resolve(ctx, named.String()); err == nil && cur.ID == stored.ID && p.reused {
		res.UpToDate = true
	} else if isTagged {
		if err := store.Tag(ctx, stored.ID, named.String()); err != nil {
			return nil, err
		}
	}
	withDigest, err := reference.WithDigest(reference.TrimNamed(named), res.Digest)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	if err := store.AddDigest(ctx, stored.ID, withDigest.String()); err != nil {
		return nil, err
	}
	rep.status("", "Digest: "+res.Digest.String())
	if res.UpToDate {
		rep.status("", "Status: Image is up to date for "+reference.FamiliarString(named))
	} else {
		rep.status("", "Status: Downloaded newer image for "+reference.FamiliarString(named))
	}
	return res, nil
}

func digestOf(named reference.Named) string {
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}

// toRemote converts a normalized Docker reference for go-containerregistry,
// marking loopback registries as plain HTTP.
func toRemote(named reference.Named) (name.Reference, error) {
	var o []name.Option
	if insecureHost(reference.Domain(named)) {
		o = append(o, name.Insecure)
	}
	r, err := name.ParseReference(named.String(), o...)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	return r, nil
}

func platform(s string) (*v1.Platform, error) {
	if s == "" {
		return &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, errdefs.Invalidf("invalid platform %q: %v", s, err)
	}
	if p.OS == "" {
		p.OS = "linux"
	}
	return p, nil
}

// puller downloads one image's layers and hands them to the store.
type puller struct {
	store  *image.Store
	rep    *reporter
	img    v1.Image
	reused bool // every layer was already stored
}

func (p *puller) run(ctx context.Context) (*image.Image, error) {
	raw, err := p.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("fetch image config: %w", err)
	}
	mf, err := p.img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if got := digest.FromBytes(raw).String(); got != mf.Config.Digest.String() {
		return nil, errdefs.Invalidf("image config digest mismatch: expected %s, got %s", mf.Config.Digest, got)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, errdefs.Invalidf("invalid image config: %v", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(mf.Layers) {
		return nil, errdefs.Invalidf("invalid manifest, layers length mismatch: expected %d, got %d", len(diffIDs), len(mf.Layers))
	}
	in := p.store.NewIngest()
	defer in.Close(context.WithoutCancel(ctx))
	ids := make([]string, len(mf.Layers))
	for i, l := range mf.Layers {
		ids[i] = l.Digest.Hex[:12]
	}
	if err := p.fetchLayers(ctx, in, mf, diffIDs, ids); err != nil {
		return nil, err
	}
	return in.Commit(ctx, raw, func(i int) {
		if p.reused {
			return
		}
		size := mf.Layers[i].Size
		p.rep.bytes(ids[i], "Extracting", size, size)
		p.rep.layer(ids[i], "Pull complete")
	})
}

// fetchLayers downloads the layers not stored yet, up to maxDownloads at once.
func (p *puller) fetchLayers(ctx context.Context, in *image.Ingest, mf *v1.Manifest, diffIDs []digest.Digest, ids []string) error {
	var todo []int
	for i := range mf.Layers {
		if in.HasLayer(diffIDs[i]) {
			p.rep.layer(ids[i], "Already exists")
			continue
		}
		p.rep.layer(ids[i], "Pulling fs layer")
		todo = append(todo, i)
	}
	p.reused = len(todo) == 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxDownloads)
	for _, i := range todo {
		g.Go(func() error {
			return p.fetchLayer(gctx, in, mf.Layers[i], diffIDs[i], ids[i])
		})
	}
	return g.Wait()
}

func (p *puller) fetchLayer(ctx context.Context, in *image.Ingest, desc v1.Descriptor, diffID digest.Digest, id string) error {
	l, err := p.img.LayerByDigest(desc.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	want, err := digest.Parse(desc.Digest.String())
	if err != nil {
		return errdefs.Invalidf("layer digest %q: %v", desc.Digest, err)
	}
	ver := want.Verifier()
	src := io.TeeReader(&progressReader{r: rc, rep: p.rep, id: id, total: desc.Size}, ver)
	dec, err := compression.DecompressStream(src)
	if err != nil {
		return errdefs.Invalidf("layer %s: %v", desc.Digest, err)
	}
	defer dec.Close()
	if err := in.Layer(ctx, dec, diffID); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	// Drain what the decompressor left (padding, trailers) into the verifier.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	p.rep.layer(id, "Verifying Checksum")
	if !ver.Verified() {
		return errdefs.Invalidf("filesystem layer verification failed for digest %s", desc.Digest)
	}
	p.rep.layer(id, "Download complete")
	return nil
}
