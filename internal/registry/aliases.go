package registry

import (
	"context"
	"errors"
	"fmt"
	"path"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// Content addressed by a digest other than sha256 (sha512, which OCI
// distribution-spec 1.1 allows) is stored by distribution under its
// canonical sha256 digest. The other digest is an alias: a link file at the
// place distribution's storage layout gives that digest in the repository,
// holding the canonical digest. distribution writes such a link itself when
// a blob upload is committed with a sha512 digest, and resolves links on
// every read, so a manifest or blob fetched by its alias needs nothing from
// us. We write the links distribution does not (manifests pushed by sha512,
// blobs mounted by sha512), answer with the digest the client used, and keep
// aliases in step with deletes and garbage collection.
//
// The aliases of a repository are the index: one small file per alias in the
// registry's own storage, next to distribution's links, so they live and
// move with the repository and need no separate database.

// linkKind says which of a repository's link sets an alias belongs to.
type linkKind int

const (
	layerLink    linkKind = iota // <repo>/_layers/<algorithm>/<hex>/link
	revisionLink                 // <repo>/_manifests/revisions/<algorithm>/<hex>/link
)

func (k linkKind) String() string {
	if k == layerLink {
		return "blob"
	}
	return "manifest"
}

// dir is the directory holding the kind's links of repo, per algorithm.
func (k linkKind) dir(repo string) string {
	if k == layerLink {
		return path.Join(repositoriesPath, repo, "_layers")
	}
	return path.Join(repositoriesPath, repo, "_manifests", "revisions")
}

// isAlias reports whether d is addressed by another algorithm than the one
// distribution stores content under.
func isAlias(d digest.Digest) bool {
	return d.Algorithm() != digest.Canonical
}

// errNoAlias says a repository has no such alias.
var errNoAlias = errors.New("no such digest alias")

// aliasStore reads and writes alias links through the storage driver.
type aliasStore struct {
	driver storagedriver.StorageDriver
}

func (a aliasStore) path(k linkKind, repo string, alias digest.Digest) string {
	return path.Join(k.dir(repo), alias.Algorithm().String(), alias.Encoded(), "link")
}

// link makes alias name canonical in repo, in distribution's link format.
func (a aliasStore) link(ctx context.Context, k linkKind, repo string, alias, canonical digest.Digest) error {
	if err := a.driver.PutContent(ctx, a.path(k, repo, alias), []byte(canonical)); err != nil {
		return fmt.Errorf("linking %s %s to %s in %s: %w", k, alias, canonical, repo, err)
	}
	return nil
}

// target returns the canonical digest alias names in repo, or errNoAlias.
func (a aliasStore) target(ctx context.Context, k linkKind, repo string, alias digest.Digest) (digest.Digest, error) {
	content, err := a.driver.GetContent(ctx, a.path(k, repo, alias))
	if err != nil {
		var notFound storagedriver.PathNotFoundError
		if errors.As(err, &notFound) {
			return "", errNoAlias
		}
		return "", fmt.Errorf("reading %s alias %s in %s: %w", k, alias, repo, err)
	}
	d, err := digest.Parse(string(content))
	if err != nil {
		return "", fmt.Errorf("%s alias %s in %s: %w", k, alias, repo, err)
	}
	return d, nil
}

// list returns every alias of kind k in repo with its canonical digest. A
// repository that never saw another algorithm than sha256 costs one
// directory listing.
func (a aliasStore) list(ctx context.Context, k linkKind, repo string) (map[digest.Digest]digest.Digest, error) {
	found := map[digest.Digest]digest.Digest{}
	algs, err := a.children(ctx, k.dir(repo))
	if err != nil {
		return nil, err
	}
	for _, algDir := range algs {
		alg := digest.Algorithm(path.Base(algDir))
		if alg == digest.Canonical || !alg.Available() {
			continue
		}
		hexes, err := a.children(ctx, algDir)
		if err != nil {
			return nil, err
		}
		for _, hexDir := range hexes {
			alias := digest.NewDigestFromEncoded(alg, path.Base(hexDir))
			if alias.Validate() != nil {
				continue // not ours to judge; distribution ignores it too
			}
			canonical, err := a.target(ctx, k, repo, alias)
			if errors.Is(err, errNoAlias) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, err
			}
			found[alias] = canonical
		}
	}
	return found, nil
}

// remove deletes the alias's directory (its link).
func (a aliasStore) remove(ctx context.Context, k linkKind, repo string, alias digest.Digest) error {
	err := a.driver.Delete(ctx, path.Dir(a.path(k, repo, alias)))
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("removing %s alias %s in %s: %w", k, alias, repo, err)
	}
	return nil
}

// children lists dir, empty when it does not exist.
func (a aliasStore) children(ctx context.Context, dir string) ([]string, error) {
	names, err := a.driver.List(ctx, dir)
	if err != nil {
		var notFound storagedriver.PathNotFoundError
		if errors.As(err, &notFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return names, nil
}
