package images

import (
	"context"
	"io"
	"strings"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
)

// ImagePull serves POST /images/create?fromImage=. tag may be a tag or a
// digest (the CLI sends "sha256:..." there for name@digest); auth is the
// X-Registry-Auth header as sent.
func (b *Backend) ImagePull(ctx context.Context, ref, tag, platform string, auth string, progress io.Writer) error {
	a, err := distribution.DecodeAuth(auth)
	if err != nil {
		return err
	}
	opts := distribution.PullOptions{Platform: platform, Auth: a, Registries: b.registries}
	if named, err := reference.ParseNormalizedNamed(strings.TrimSuffix(ref, ":")); err == nil && tag == "" && reference.IsNameOnly(named) {
		// A bare repository name with no tag is docker pull -a, as in dockerd.
		all, err := distribution.PullAll(ctx, b.images, named.String(), opts, progress)
		for _, res := range all {
			b.Announce(res.Image.ID.String(), res.Ref, events.ActionPull)
		}
		return err
	}
	full, err := pullRef(ref, tag)
	if err != nil {
		return err
	}
	res, err := distribution.Pull(ctx, b.images, full, opts, progress)
	if err != nil {
		return err
	}
	b.Announce(res.Image.ID.String(), full, events.ActionPull)
	return nil
}

// pullRef joins fromImage and tag as the engine does: a tag that parses as
// a digest makes a digest reference; no tag at all means "latest".
func pullRef(ref, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	if tag == "" {
		return reference.TagNameOnly(named).String(), nil
	}
	if dg, err := digest.Parse(tag); err == nil {
		withDigest, err := reference.WithDigest(reference.TrimNamed(named), dg)
		if err != nil {
			return "", errdefs.Invalid(err)
		}
		return withDigest.String(), nil
	}
	withTag, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	return withTag.String(), nil
}

// DistributionInspect serves GET /distribution/{name}/json.
func (b *Backend) DistributionInspect(ctx context.Context, ref, auth string) (*registry.DistributionInspect, error) {
	a, err := distribution.DecodeAuth(auth)
	if err != nil {
		return nil, err
	}
	return distribution.Inspect(ctx, ref, distribution.PullOptions{Auth: a, Registries: b.registries})
}
