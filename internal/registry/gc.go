package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// repositoriesPath is where distribution's storage layout keeps
// repositories, relative to the driver's root.
const repositoriesPath = "/docker/registry/v2/repositories"

// GCOptions select how garbage collection runs.
type GCOptions struct {
	DryRun         bool // report what would go, remove nothing
	RemoveUntagged bool // also delete manifests no tag points at
	Quiet          bool // no per-blob output
}

// GarbageCollect removes blobs no manifest references from cfg's storage,
// with distribution's mark-and-sweep. The registry must not take pushes
// while it runs (distribution's own rule): a blob uploaded during the mark
// phase could be swept.
func GarbageCollect(ctx context.Context, cfg *configuration.Configuration, opts GCOptions) error {
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return fmt.Errorf("storage driver %s: %w", cfg.Storage.Type(), err)
	}
	// A registry nothing was ever pushed to has no repositories directory;
	// distribution's mark phase reports that as an error, but there is
	// simply nothing to collect.
	if _, err := driver.Stat(ctx, repositoriesPath); err != nil {
		var notFound storagedriver.PathNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("storage: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	g := &gcNamespace{Namespace: ns, links: aliasStore{driver: driver}, referenced: map[digest.Digest]struct{}{}}
	err = storage.MarkAndSweep(ctx, driver, g, storage.GCOpts{
		DryRun:         opts.DryRun,
		RemoveUntagged: opts.RemoveUntagged,
		Quiet:          opts.Quiet,
	})
	if err != nil {
		return fmt.Errorf("garbage collect: %w", err)
	}
	if err := g.sweepAliases(ctx, opts); err != nil {
		return fmt.Errorf("garbage collect: %w", err)
	}
	return nil
}

// gcNamespace shows distribution's mark and sweep the storage with digest
// aliases (aliases.go) accounted for. Unaided it would sweep the data of a
// blob that manifests reference only by sha512 (the data lives under its
// sha256, which nothing marks), and fail removing a link twice (a blob or
// manifest with an alias is enumerated once per link). So: each reference
// by an alias also marks the canonical digest the repository's alias names,
// every blob and manifest is enumerated once, and the aliases are swept
// afterwards by the same rules distribution applies to its own links.
type gcNamespace struct {
	distribution.Namespace
	links aliasStore
	// referenced holds every digest a marked manifest references, as
	// written in the manifest.
	referenced map[digest.Digest]struct{}
}

func (g *gcNamespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	e, ok := g.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return errors.New("storage cannot list its repositories")
	}
	return e.Enumerate(ctx, ingester)
}

func (g *gcNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	repo, err := g.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &gcRepository{Repository: repo, g: g}, nil
}

type gcRepository struct {
	distribution.Repository
	g *gcNamespace
}

func (r *gcRepository) Blobs(ctx context.Context) distribution.BlobStore {
	return &gcBlobs{BlobStore: r.Repository.Blobs(ctx)}
}

func (r *gcRepository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &gcManifests{ManifestService: ms, repo: r}, nil
}

type gcBlobs struct{ distribution.BlobStore }

func (b *gcBlobs) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, b.BlobStore, ingester)
}

type gcManifests struct {
	distribution.ManifestService
	repo *gcRepository
}

func (m *gcManifests) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, m.ManifestService, ingester)
}

// Get returns the manifest with its references by alias doubled by their
// canonical digests (mark and sweep marks what References returns).
func (m *gcManifests) Get(ctx context.Context, dgst digest.Digest, options ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	manifest, err := m.ManifestService.Get(ctx, dgst, options...)
	if err != nil {
		return nil, err
	}
	refs := manifest.References()
	out := make([]v1.Descriptor, 0, len(refs))
	repo := m.repo.Named().Name()
	for _, ref := range refs {
		m.repo.g.referenced[ref.Digest] = struct{}{}
		out = append(out, ref)
		if !isAlias(ref.Digest) {
			continue
		}
		for _, k := range []linkKind{layerLink, revisionLink} {
			canonical, err := m.repo.g.links.target(ctx, k, repo, ref.Digest)
			if errors.Is(err, errNoAlias) {
				continue
			}
			if err != nil {
				return nil, err
			}
			c := ref
			c.Digest = canonical
			out = append(out, c)
			break
		}
	}
	return referencesOverride{Manifest: manifest, refs: out}, nil
}

type referencesOverride struct {
	distribution.Manifest
	refs []v1.Descriptor
}

func (r referencesOverride) References() []v1.Descriptor { return r.refs }

// sweepAliases removes the aliases distribution's sweep left pointing at
// nothing, by distribution's rules for its own links: a blob alias goes
// when no marked manifest references it (as distribution drops unmarked
// layer links), a manifest alias when its canonical revision was removed;
// either goes when the content it names was swept.
func (g *gcNamespace) sweepAliases(ctx context.Context, opts GCOptions) error {
	var doomed []aliasRef
	err := g.Enumerate(ctx, func(repo string) error {
		for _, k := range []linkKind{layerLink, revisionLink} {
			aliases, err := g.links.list(ctx, k, repo)
			if err != nil {
				return err
			}
			for alias, canonical := range aliases {
				keep, err := g.keepAlias(ctx, k, repo, alias, canonical)
				if err != nil {
					return err
				}
				if !keep {
					doomed = append(doomed, aliasRef{kind: k, repo: repo, alias: alias})
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweeping digest aliases: %w", err)
	}
	for _, a := range doomed {
		if !opts.Quiet {
			fmt.Printf("%s: %s alias eligible for deletion: %s\n", a.repo, a.kind, a.alias)
		}
		if opts.DryRun {
			continue
		}
		if err := g.links.remove(ctx, a.kind, a.repo, a.alias); err != nil {
			return err
		}
	}
	return nil
}

type aliasRef struct {
	kind  linkKind
	repo  string
	alias digest.Digest
}

func (g *gcNamespace) keepAlias(ctx context.Context, k linkKind, repo string, alias, canonical digest.Digest) (bool, error) {
	if _, err := g.BlobStatter().Stat(ctx, canonical); err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) {
			return false, nil
		}
		return false, err
	}
	if k == layerLink {
		_, ok := g.referenced[alias]
		return ok, nil
	}
	_, err := g.links.driver.Stat(ctx, g.links.path(revisionLink, repo, canonical))
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return false, nil
	}
	return err == nil, err
}
