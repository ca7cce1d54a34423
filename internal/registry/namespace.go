package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// aliasNamespace wraps distribution's storage so that content addressed by
// a sha512 digest (an alias, see aliases.go) answers to that digest: blob
// descriptors, upload commits and mounts carry the alias the client used,
// manifests pushed by an alias get their link, and deletes keep aliases and
// canonical links together. sha256 requests pass straight through.
type aliasNamespace struct {
	distribution.Namespace
	links aliasStore
}

var (
	_ distribution.RepositoryEnumerator = (*aliasNamespace)(nil)
	_ distribution.RepositoryRemover    = (*aliasNamespace)(nil)
)

func (n *aliasNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	repo, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &aliasRepository{Repository: repo, ns: n}, nil
}

// Enumerate lists repositories (the catalog); distribution's storage does.
func (n *aliasNamespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	e, ok := n.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return e.Enumerate(ctx, ingester)
}

func (n *aliasNamespace) Remove(ctx context.Context, name reference.Named) error {
	r, ok := n.Namespace.(distribution.RepositoryRemover)
	if !ok {
		return distribution.ErrUnsupported
	}
	return r.Remove(ctx, name)
}

type aliasRepository struct {
	distribution.Repository
	ns *aliasNamespace
}

func (r *aliasRepository) name() string { return r.Named().Name() }

func (r *aliasRepository) Blobs(ctx context.Context) distribution.BlobStore {
	return &aliasBlobs{BlobStore: r.Repository.Blobs(ctx), repo: r}
}

func (r *aliasRepository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &aliasManifests{ManifestService: ms, repo: r}, nil
}

// aliasBlobs is a repository's blob store answering to aliases.
type aliasBlobs struct {
	distribution.BlobStore
	repo *aliasRepository
}

var _ distribution.ManifestEnumerator = (*aliasBlobs)(nil)

// Stat describes the blob by the digest it was asked for: the handlers
// answer with the descriptor's digest.
func (b *aliasBlobs) Stat(ctx context.Context, dgst digest.Digest) (v1.Descriptor, error) {
	desc, err := b.BlobStore.Stat(ctx, dgst)
	if err == nil && isAlias(dgst) {
		desc.Digest = dgst
	}
	return desc, err
}

// ServeBlob sets Docker-Content-Digest to the alias; distribution's blob
// server keeps a value already set.
func (b *aliasBlobs) ServeBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, dgst digest.Digest) error {
	if isAlias(dgst) {
		w.Header().Set("Docker-Content-Digest", dgst.String())
	}
	return b.BlobStore.ServeBlob(ctx, w, r, dgst)
}

func (b *aliasBlobs) Create(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	var opts distribution.CreateOptions
	for _, o := range options {
		if err := o.Apply(&opts); err != nil {
			opts = distribution.CreateOptions{} // not a mount we understand
			break
		}
	}
	if opts.Mount.ShouldMount && opts.Mount.From != nil && isAlias(opts.Mount.From.Digest()) {
		return b.mountAlias(ctx, opts.Mount.From)
	}
	w, err := b.BlobStore.Create(ctx, options...)
	return wrapWriter(w), err
}

func (b *aliasBlobs) Resume(ctx context.Context, id string) (distribution.BlobWriter, error) {
	w, err := b.BlobStore.Resume(ctx, id)
	return wrapWriter(w), err
}

// mountAlias mounts a blob named by an alias from another repository.
// distribution would link the alias to itself (a link to no data), so the
// mount is made by the canonical digest the source repository's alias
// names, and the alias is linked here beside it. When the source does not
// have the blob under that alias, the client gets an ordinary upload, as
// the spec allows for any mount.
func (b *aliasBlobs) mountAlias(ctx context.Context, from reference.Canonical) (distribution.BlobWriter, error) {
	alias := from.Digest()
	var desc v1.Descriptor
	src, err := b.repo.ns.Namespace.Repository(ctx, from)
	if err == nil {
		desc, err = src.Blobs(ctx).Stat(ctx, alias)
	}
	var canonical reference.Canonical
	if err == nil {
		canonical, err = reference.WithDigest(reference.TrimNamed(from), desc.Digest)
	}
	if err != nil {
		w, err := b.BlobStore.Create(ctx)
		return wrapWriter(w), err
	}
	w, err := b.BlobStore.Create(ctx, storage.WithMountFrom(canonical))
	var mounted distribution.ErrBlobMounted
	if !errors.As(err, &mounted) {
		return wrapWriter(w), err
	}
	if err := b.repo.ns.links.link(ctx, layerLink, b.repo.name(), alias, mounted.Descriptor.Digest); err != nil {
		return nil, err
	}
	mounted.From = from
	mounted.Descriptor.Digest = alias
	return nil, mounted
}

// Enumerate yields each linked blob once: distribution yields the target of
// every link, so a blob with an alias would come twice (and garbage
// collection would try to remove its link twice).
func (b *aliasBlobs) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, b.BlobStore, ingester)
}

func enumerateOnce(ctx context.Context, svc any, ingester func(digest.Digest) error) error {
	e, ok := svc.(distribution.ManifestEnumerator)
	if !ok {
		return fmt.Errorf("storage of type %T cannot enumerate", svc)
	}
	seen := map[digest.Digest]struct{}{}
	return e.Enumerate(ctx, func(d digest.Digest) error {
		if _, dup := seen[d]; dup {
			return nil
		}
		seen[d] = struct{}{}
		return ingester(d)
	})
}

// aliasWriter answers a committed upload with the digest the client gave:
// distribution verifies the content against it, stores the blob under its
// sha256 and links the given digest as an alias, but reports the sha256.
type aliasWriter struct {
	distribution.BlobWriter
}

func wrapWriter(w distribution.BlobWriter) distribution.BlobWriter {
	if w == nil {
		return nil
	}
	return &aliasWriter{BlobWriter: w}
}

func (w *aliasWriter) Commit(ctx context.Context, provisional v1.Descriptor) (v1.Descriptor, error) {
	desc, err := w.BlobWriter.Commit(ctx, provisional)
	if err == nil && isAlias(provisional.Digest) {
		desc.Digest = provisional.Digest
	}
	return desc, err
}

// aliasManifests is a repository's manifest store answering to aliases.
// Reads by an alias need nothing: distribution follows the alias link.
type aliasManifests struct {
	distribution.ManifestService
	repo *aliasRepository
}

var _ distribution.ManifestEnumerator = (*aliasManifests)(nil)

// manifestAliasKey carries, in a manifest PUT's context, the alias digest
// the client pushed by (the request itself was rewritten to the canonical
// digest, which is what distribution checks and stores by).
type manifestAliasKey struct{}

func withManifestAlias(ctx context.Context, alias digest.Digest) context.Context {
	return context.WithValue(ctx, manifestAliasKey{}, alias)
}

// Put stores the manifest and, when it was pushed by an alias, links the
// alias to the stored revision before the client hears of success.
func (m *aliasManifests) Put(ctx context.Context, manifest distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	alias, _ := ctx.Value(manifestAliasKey{}).(digest.Digest)
	if alias != "" {
		_, payload, err := manifest.Payload()
		if err != nil {
			return "", err
		}
		if alias.Algorithm().FromBytes(payload) != alias {
			return "", errcode.ErrorCodeDigestInvalid.WithDetail(alias)
		}
	}
	canonical, err := m.ManifestService.Put(ctx, manifest, options...)
	if err != nil || alias == "" {
		return canonical, err
	}
	if err := m.repo.ns.links.link(ctx, revisionLink, m.repo.name(), alias, canonical); err != nil {
		return "", err
	}
	return canonical, nil
}

// Delete removes the manifest under every digest it answers to: deleted by
// its alias, the canonical revision and its tags go too (the handler only
// untags what points at the digest it was given, and tags point at the
// canonical digest); deleted by its canonical digest, its aliases go.
func (m *aliasManifests) Delete(ctx context.Context, dgst digest.Digest) error {
	if !isAlias(dgst) {
		if err := m.ManifestService.Delete(ctx, dgst); err != nil {
			return err
		}
		return m.deleteAliasesOf(ctx, dgst)
	}
	canonical, err := m.repo.ns.links.target(ctx, revisionLink, m.repo.name(), dgst)
	if errors.Is(err, errNoAlias) {
		return distribution.ErrBlobUnknown
	}
	if err != nil {
		return err
	}
	if err := m.ManifestService.Delete(ctx, dgst); err != nil {
		return err
	}
	if err := m.ManifestService.Delete(ctx, canonical); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) {
		return err
	}
	if err := m.deleteAliasesOf(ctx, canonical); err != nil {
		return err
	}
	tags := m.repo.Tags(ctx)
	names, err := tags.Lookup(ctx, v1.Descriptor{Digest: canonical})
	if err != nil {
		return fmt.Errorf("tags of %s: %w", canonical, err)
	}
	for _, tag := range names {
		if err := tags.Untag(ctx, tag); err != nil {
			return fmt.Errorf("untag %s: %w", tag, err)
		}
	}
	return nil
}

// deleteAliasesOf removes the aliases naming canonical, through
// distribution's delete so its descriptor cache forgets them too.
func (m *aliasManifests) deleteAliasesOf(ctx context.Context, canonical digest.Digest) error {
	aliases, err := m.repo.ns.links.list(ctx, revisionLink, m.repo.name())
	if err != nil {
		return err
	}
	for alias, target := range aliases {
		if target != canonical {
			continue
		}
		if err := m.ManifestService.Delete(ctx, alias); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) {
			return err
		}
	}
	return nil
}

// Enumerate yields each stored manifest once, by its canonical digest.
func (m *aliasManifests) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, m.ManifestService, ingester)
}
