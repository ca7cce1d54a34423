package distribution

import (
	"cmp"
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/layer"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// PullOptions says what to pull and how.
type PullOptions struct {
	Platform   string // "os/arch[/variant]"; empty means this host
	Auth       authn.Authenticator
	Registries *Registries // nil: Docker's defaults
}

// Result is what a pull stored.
type Result struct {
	Image    *image.Image
	Ref      string        // normalized name:tag or name@digest
	Digest   digest.Digest // manifest (or index) digest from the registry
	UpToDate bool          // the reference already named this image
}

// source is where a pull reads from: a mirror or the image's own registry.
type source struct {
	repo  name.Repository
	rt    http.RoundTripper // authenticated for repo, the scheme its ping chose
	ropts []remote.Option
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
	rep := newReporter(progress)
	res, err := pullTag(ctx, store, named, opts, rep)
	if err != nil {
		return nil, err
	}
	writeStatus(rep, reference.FamiliarString(named), !res.UpToDate)
	return res, nil
}

// PullAll pulls every tag of repository ref (docker pull -a), reporting
// each tag as dockerd does and one status line at the end.
func PullAll(ctx context.Context, store *image.Store, ref string, opts PullOptions, progress io.Writer) ([]*Result, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	if !reference.IsNameOnly(named) {
		return nil, errdefs.Invalidf("tag can't be used with --all-tags/-a")
	}
	opts.Registries = registriesOr(opts.Registries)
	var tags []string
	err = eachSource(ctx, named, opts, func(src source) error {
		tags, err = remote.List(src.repo, src.ropts...)
		return err
	})
	if err != nil {
		return nil, translate(named, err)
	}
	rep := newReporter(progress)
	var out []*Result
	newer := false
	for _, t := range tags {
		tagged, err := reference.WithTag(named, t)
		if err != nil {
			return out, errdefs.Invalid(err)
		}
		res, err := pullTag(ctx, store, tagged, opts, rep)
		if err != nil {
			return out, err
		}
		newer = newer || !res.UpToDate
		out = append(out, res)
	}
	writeStatus(rep, reference.FamiliarString(named), newer)
	return out, nil
}

func writeStatus(rep *reporter, ref string, newer bool) {
	if newer {
		rep.status("", "Status: Downloaded newer image for "+ref)
	} else {
		rep.status("", "Status: Image is up to date for "+ref)
	}
}

// eachSource calls fn with the configured mirrors, then the origin, until
// fn succeeds. A mirror's failure only moves on to the next source; the
// origin's is returned. Mirrors get no credentials: those are for the
// origin registry alone.
func eachSource(ctx context.Context, named reference.Named, opts PullOptions, fn func(source) error) error {
	regs := opts.Registries
	plat, err := platform(opts.Platform)
	if err != nil {
		return err
	}
	for _, m := range regs.mirrors {
		repo, err := regs.mirrorRepository(m, named)
		if err != nil {
			continue
		}
		rt, err := regs.authTransport(ctx, repo.Registry, authn.Anonymous, repo.Scope(transport.PullScope))
		if err != nil {
			continue
		}
		src := source{repo: repo, rt: rt, ropts: []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithPlatform(*plat)}}
		if fn(src) == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	repo, err := regs.repository(named)
	if err != nil {
		return err
	}
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	rt, err := regs.authTransport(ctx, repo.Registry, auth, repo.Scope(transport.PullScope))
	if err != nil {
		return err
	}
	return fn(source{repo: repo, rt: rt, ropts: []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithPlatform(*plat)}})
}

// pullTag pulls one tag or digest and records it, writing everything but
// the final status line.
func pullTag(ctx context.Context, store *image.Store, named reference.Named, opts PullOptions, rep *reporter) (*Result, error) {
	opts.Registries = registriesOr(opts.Registries)
	var (
		desc *remote.Descriptor
		img  v1.Image
		from source
	)
	err := eachSource(ctx, named, opts, func(src source) error {
		ref, err := sourceRef(src.repo, named)
		if err != nil {
			return err
		}
		d, err := remote.Get(ref, src.ropts...)
		if err != nil {
			return err
		}
		i, err := d.Image() // resolves an index to the platform
		if err != nil {
			return err
		}
		desc, img, from = d, i, src
		return nil
	})
	if err != nil {
		return nil, translate(named, err)
	}
	p := &puller{store: store, rep: rep, img: img, regs: opts.Registries, from: from.repo,
		client: &http.Client{Transport: from.rt}}
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
	return res, nil
}

// sourceRef is named's tag or digest in repository repo.
func sourceRef(repo name.Repository, named reference.Named) (name.Reference, error) {
	if d, ok := named.(reference.Digested); ok {
		return repo.Digest(d.Digest().String()), nil
	}
	if t, ok := named.(reference.Tagged); ok {
		return repo.Tag(t.Tag()), nil
	}
	return repo.Tag("latest"), nil
}

func digestOf(named reference.Named) string {
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
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
	regs   *Registries
	from   name.Repository // where the layers come from, remembered for pushes
	client *http.Client    // reaches from, authenticated
	reused bool            // every layer was already stored
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

// fetchLayers downloads the layers not stored yet within the daemon's
// download slots.
func (p *puller) fetchLayers(ctx context.Context, in *image.Ingest, mf *v1.Manifest, diffIDs []digest.Digest, ids []string) error {
	var todo []int
	chains := layer.ChainIDs(diffIDs)
	for i := range mf.Layers {
		if in.HasLayerAt(diffIDs[i], chains[i]) {
			p.remember(mf.Layers[i], diffIDs[i])
			p.rep.layer(ids[i], "Already exists")
			continue
		}
		p.rep.layer(ids[i], "Pulling fs layer")
		todo = append(todo, i)
	}
	p.reused = len(todo) == 0
	g, gctx := errgroup.WithContext(ctx)
	serr := p.regs.downSlots.runInSlots(gctx, g, len(todo),
		func(k int) { p.rep.layer(ids[todo[k]], "Waiting") },
		func(k int) error {
			i := todo[k]
			return p.fetchLayer(gctx, in, mf.Layers[i], diffIDs[i], chains[i], ids[i])
		})
	return cmp.Or(g.Wait(), serr)
}

func (p *puller) fetchLayer(ctx context.Context, in *image.Ingest, desc v1.Descriptor, diffID, chain digest.Digest, id string) error {
	want, err := digest.Parse(desc.Digest.String())
	if err != nil {
		return errdefs.Invalidf("layer digest %q: %v", desc.Digest, err)
	}
	rc, err := p.openBlob(ctx, desc)
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	ver := want.Verifier()
	cnt := &countingReader{r: &progressReader{r: rc, rep: p.rep, id: id, total: desc.Size}}
	src := io.TeeReader(cnt, ver)
	dec, err := layer.Decompress(src)
	if err != nil {
		return errdefs.Invalidf("layer %s: %v", desc.Digest, err)
	}
	defer dec.Close()
	verify := func() error {
		// Drain what the decompressor left (padding, trailers) into the verifier.
		if _, err := io.Copy(io.Discard, src); err != nil {
			return err
		}
		p.rep.layer(id, "Verifying Checksum")
		if cnt.n != desc.Size || !ver.Verified() {
			return errdefs.Invalidf("filesystem layer verification failed for digest %s", desc.Digest)
		}
		return nil
	}
	if err := in.LayerAt(ctx, dec, diffID, chain, verify); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	p.rep.layer(id, "Download complete")
	p.remember(desc, diffID)
	return nil
}

// openBlob GETs the compressed layer desc from the source's registry.
// The caller checks its digest and size: go-containerregistry's own
// reader (Layer.Compressed) hashes every blob as well, and a second
// SHA-256 pass over every pulled byte was a fifth of a pull's CPU time.
// A foreign layer (one with URLs to try when the registry lacks it) still
// goes go-containerregistry's way.
func (p *puller) openBlob(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error) {
	if len(desc.URLs) > 0 || p.client.Transport == nil {
		l, err := p.img.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}
	u := url.URL{Scheme: p.from.Scheme(), Host: p.from.RegistryStr(),
		Path: fmt.Sprintf("/v2/%s/blobs/%s", p.from.RepositoryStr(), desc.Digest)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
		resp.Body.Close()
		return nil, errdefs.Invalidf("GET %s: Content-Length %d does not match the manifest's size %d", u.String(), resp.ContentLength, desc.Size)
	}
	// One byte more than the manifest says is enough to fail the check.
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, desc.Size+1), resp.Body}, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// remember notes that p.from holds layer diffID as blob desc, so a push to
// the same registry can skip or mount it. Only gzip blobs qualify: a push
// writes Docker schema2 manifests, whose layers are gzip.
func (p *puller) remember(desc v1.Descriptor, diffID digest.Digest) {
	if desc.MediaType != types.DockerLayer && desc.MediaType != types.OCILayer {
		return
	}
	d, err := digest.Parse(desc.Digest.String())
	if err != nil {
		return
	}
	p.regs.blobs.add(diffID, blobSource{Digest: d, Size: desc.Size, Repo: p.from.Name()})
}
