package distribution

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Docker schema2 media types: what dockerd pushes, and what every registry
// and client accepts.
const (
	mediaTypeManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeConfig   = "application/vnd.docker.container.image.v1+json"
	mediaTypeLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// PushOptions says how to push.
type PushOptions struct {
	Auth       authn.Authenticator
	Registries *Registries // nil: Docker's defaults
}

// PushResult is one tag a push sent.
type PushResult struct {
	Tag    string
	ID     digest.Digest // local image ID
	Digest digest.Digest // manifest digest
	Size   int
}

// localTag is a local tag of the repository being pushed.
type localTag struct {
	tag    string
	id     digest.Digest
	layers []digest.Digest // diff IDs, bottom first
}

// Push uploads the local image ref (name:tag) to its registry, or every
// local tag of the repository when ref has no tag (docker push -a). Layers
// are gzip-compressed from the store's uncompressed tars while they upload,
// within the daemon's max-concurrent-uploads, and a Docker schema2 manifest is
// put under each tag. Progress goes to progress as Docker's JSON stream;
// nothing is written before the local image is found, so a missing one is
// a plain error.
func Push(ctx context.Context, store *image.Store, ref string, opts PushOptions, progress io.Writer) ([]PushResult, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.Invalidf("cannot push a digest reference: %s", ref)
	}
	tags, err := localTags(ctx, store, named)
	if err != nil {
		return nil, err
	}
	regs := registriesOr(opts.Registries)
	repo, err := regs.repository(named)
	if err != nil {
		return nil, err
	}
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	rep := newReporter(progress)
	rep.status("", "The push refers to repository ["+named.Name()+"]")
	p := &pusher{store: store, regs: regs, repo: repo, named: named, rep: rep, done: map[digest.Digest]descriptor{}}
	anonymous := auth == authn.Anonymous // changes how a 401 is worded
	if err := p.connect(ctx, auth, tags); err != nil {
		return nil, translatePush(err, anonymous)
	}
	var out []PushResult
	for _, t := range tags {
		res, err := p.pushTag(ctx, t)
		if err != nil {
			return out, translatePush(err, anonymous)
		}
		out = append(out, res)
	}
	return out, nil
}

// localTags finds what to push: named's tag, or all tags of its repository.
func localTags(ctx context.Context, store *image.Store, named reference.Named) ([]localTag, error) {
	imgs, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	want, tagged := named.(reference.Tagged)
	var out []localTag
	repoKnown := false
	for _, img := range imgs {
		for _, rt := range img.RepoTags {
			r, err := reference.ParseNormalizedNamed(rt)
			if err != nil || r.Name() != named.Name() {
				continue
			}
			repoKnown = true
			t, ok := r.(reference.Tagged)
			if !ok || tagged && t.Tag() != want.Tag() {
				continue
			}
			out = append(out, localTag{tag: t.Tag(), id: img.ID, layers: img.Layers})
		}
	}
	// dockerd's two messages: no local tag of the repository at all, or
	// not the one asked for.
	if !repoKnown {
		return nil, errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
	}
	if len(out) == 0 {
		return nil, errdefs.NotFoundf("tag does not exist: %s", reference.FamiliarString(named))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tag < out[j].tag })
	return out, nil
}

// descriptor is a manifest entry.
type descriptor struct {
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Digest    digest.Digest `json:"digest"`
}

// schema2 is a Docker image manifest, v2 schema 2.
type schema2 struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// pusher pushes the tags of one repository over one authenticated client.
type pusher struct {
	store  *image.Store
	regs   *Registries
	repo   name.Repository
	named  reference.Named
	rep    *reporter
	client *http.Client

	mu   sync.Mutex
	done map[digest.Digest]descriptor // layers this push already sent
}

// connect authenticates for push (and pull of the repositories blobs may
// be mounted from).
func (p *pusher) connect(ctx context.Context, auth authn.Authenticator, tags []localTag) error {
	scopes := []string{p.repo.Scope(transport.PushScope)}
	seen := map[string]bool{p.repo.Name(): true}
	for _, t := range tags {
		for _, l := range t.layers {
			for _, s := range p.regs.blobs.get(l) {
				if src, ok := p.mountSource(s); ok && !seen[s.Repo] && len(scopes) < 10 {
					seen[s.Repo] = true
					scopes = append(scopes, src.Scope(transport.PullScope))
				}
			}
		}
	}
	rt, err := p.regs.authTransport(ctx, p.repo.Registry, auth, scopes...)
	if err != nil {
		return err
	}
	p.client = &http.Client{Transport: rt}
	return nil
}

// mountSource is s's repository when a blob could be mounted from it: same
// registry, another repository.
func (p *pusher) mountSource(s blobSource) (name.Repository, bool) {
	src, err := name.NewRepository(s.Repo)
	if err != nil || src.RegistryStr() != p.repo.RegistryStr() || src.Name() == p.repo.Name() {
		return name.Repository{}, false
	}
	return src, true
}

func (p *pusher) pushTag(ctx context.Context, t localTag) (PushResult, error) {
	raw, err := p.store.RawConfig(ctx, t.id)
	if err != nil {
		return PushResult{}, err
	}
	descs, err := p.pushLayers(ctx, t.layers)
	if err != nil {
		return PushResult{}, err
	}
	cfg := descriptor{MediaType: mediaTypeConfig, Size: int64(len(raw)), Digest: t.id}
	if err := p.putConfig(ctx, cfg, raw); err != nil {
		return PushResult{}, err
	}
	m := schema2{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfg, Layers: descs}
	// Indented like distribution's schema2 package, so the bytes (and the
	// digest) look like dockerd's.
	mb, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return PushResult{}, err
	}
	if err := p.putManifest(ctx, t.tag, mb); err != nil {
		return PushResult{}, err
	}
	md := digest.FromBytes(mb)
	p.rep.status("", fmt.Sprintf("%s: digest: %s size: %d", t.tag, md, len(mb)))
	p.rep.js.Aux(struct {
		Tag    string
		Digest string
		Size   int
	}{t.tag, md.String(), len(mb)})
	withDigest, err := reference.WithDigest(reference.TrimNamed(p.named), md)
	if err != nil {
		return PushResult{}, errdefs.Invalid(err)
	}
	if err := p.store.AddDigest(ctx, t.id, withDigest.String()); err != nil {
		return PushResult{}, err
	}
	return PushResult{Tag: t.tag, ID: t.id, Digest: md, Size: len(mb)}, nil
}

// pushLayers sends the layers, top first as Docker lists them, within the
// daemon's upload slots; a layer that appears twice is sent once.
func (p *pusher) pushLayers(ctx context.Context, layers []digest.Digest) ([]descriptor, error) {
	var order []digest.Digest
	seen := map[digest.Digest]bool{}
	for i := len(layers) - 1; i >= 0; i-- {
		if !seen[layers[i]] {
			seen[layers[i]] = true
			order = append(order, layers[i])
		}
	}
	for _, l := range order {
		p.rep.layer(layerID(l), "Preparing")
	}
	got := make([]descriptor, len(order))
	g, gctx := errgroup.WithContext(ctx)
	serr := p.regs.upSlots.runInSlots(gctx, g, len(order),
		func(i int) { p.rep.layer(layerID(order[i]), "Waiting") },
		func(i int) error {
			d, err := p.pushLayer(gctx, order[i])
			got[i] = d
			return err
		})
	if err := cmp.Or(g.Wait(), serr); err != nil {
		return nil, err
	}
	byDiff := map[digest.Digest]descriptor{}
	for i, l := range order {
		byDiff[l] = got[i]
	}
	out := make([]descriptor, len(layers))
	for i, l := range layers {
		out[i] = byDiff[l]
	}
	return out, nil
}

// layerID is the short ID Docker shows for a layer being pushed: its diff ID.
func layerID(diffID digest.Digest) string {
	if e := diffID.Encoded(); len(e) >= 12 {
		return e[:12]
	}
	return diffID.String()
}

// pushLayer makes the layer present in the repository: already there,
// mounted from another repository, or compressed and uploaded.
func (p *pusher) pushLayer(ctx context.Context, diffID digest.Digest) (descriptor, error) {
	id := layerID(diffID)
	if d, ok := p.pushed(diffID); ok {
		p.rep.layer(id, "Layer already exists")
		return d, nil
	}
	srcs := p.regs.blobs.get(diffID)
	for _, s := range srcs {
		if s.Repo != p.repo.Name() {
			continue
		}
		if size, ok := p.blobExists(ctx, s.Digest); ok {
			d := descriptor{MediaType: mediaTypeLayer, Size: size, Digest: s.Digest}
			p.rep.layer(id, "Layer already exists")
			return p.remember(diffID, d), nil
		}
	}
	var loc string
	for _, s := range srcs {
		src, ok := p.mountSource(s)
		if !ok {
			continue
		}
		l, mounted, err := p.startUpload(ctx, s.Digest, src.RepositoryStr())
		if err != nil {
			return descriptor{}, err
		}
		if mounted {
			d := descriptor{MediaType: mediaTypeLayer, Size: s.Size, Digest: s.Digest}
			p.rep.layer(id, "Mounted from "+src.RepositoryStr())
			p.regs.blobs.add(diffID, blobSource{Digest: d.Digest, Size: d.Size, Repo: p.repo.Name()})
			return p.remember(diffID, d), nil
		}
		// The registry declined the mount and opened an upload instead.
		loc = l
		break
	}
	if loc == "" {
		l, _, err := p.startUpload(ctx, "", "")
		if err != nil {
			return descriptor{}, err
		}
		loc = l
	}
	d, err := p.uploadLayer(ctx, loc, diffID, id)
	if err != nil {
		return descriptor{}, err
	}
	p.rep.layer(id, "Pushed")
	p.regs.blobs.add(diffID, blobSource{Digest: d.Digest, Size: d.Size, Repo: p.repo.Name()})
	return p.remember(diffID, d), nil
}

func (p *pusher) pushed(diffID digest.Digest) (descriptor, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.done[diffID]
	return d, ok
}

func (p *pusher) remember(diffID digest.Digest, d descriptor) descriptor {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[diffID] = d
	return d
}

// translatePush words registry errors as Docker does ("unauthorized:
// authentication required", "denied: requested access to the resource is
// denied", and "no basic auth credentials" when none were given).
func translatePush(err error, anonymous bool) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	_, detail := firstDiagnostic(te)
	switch te.StatusCode {
	case http.StatusUnauthorized:
		if anonymous {
			return errdefs.Unauthorized(errors.New("no basic auth credentials"))
		}
		return errdefs.Unauthorized(fmt.Errorf("%s", detail))
	case http.StatusForbidden:
		return errdefs.Forbidden(fmt.Errorf("%s", detail))
	case http.StatusNotFound:
		return errdefs.NotFound(fmt.Errorf("%s", detail))
	}
	return fmt.Errorf("%s", detail)
}
