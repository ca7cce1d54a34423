package images

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
)

// ImagePush serves POST /images/{name}/push?tag=: one tag, or every local
// tag of the repository when tag is empty (docker push -a). auth is the
// X-Registry-Auth header as sent.
func (b *Backend) ImagePush(ctx context.Context, name, tag, auth string, progress io.Writer) error {
	ref, err := pushRef(name, tag)
	if err != nil {
		return err
	}
	a, err := distribution.DecodeAuth(auth)
	if err != nil {
		return err
	}
	pushed, err := distribution.Push(ctx, b.images, ref, distribution.PushOptions{Auth: a, Registries: b.registries}, progress)
	named, _ := reference.ParseNormalizedNamed(ref) // parsed by pushRef already
	for _, p := range pushed {
		if t, terr := reference.WithTag(reference.TrimNamed(named), p.Tag); terr == nil {
			b.Announce(p.ID.String(), reference.FamiliarString(t), events.ActionPush)
		}
	}
	return err
}

// pushRef joins the path's name and the tag query as dockerd does; a
// name that carries its own tag keeps it when tag is empty.
func pushRef(name, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	if tag == "" {
		return named.String(), nil
	}
	withTag, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return "", errdefs.Invalid(err)
	}
	return withTag.String(), nil
}
