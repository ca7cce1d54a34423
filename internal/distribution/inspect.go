package distribution

import (
	"context"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inspect answers GET /distribution/{name}/json: the registry's descriptor
// of ref's manifest (or index) and the platforms it offers, read from the
// index's entries or, for a single image, from its config. Nothing is
// pulled.
func Inspect(ctx context.Context, ref string, opts PullOptions) (*registry.DistributionInspect, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	named = reference.TagNameOnly(named)
	opts.Registries = registriesOr(opts.Registries)
	var out *registry.DistributionInspect
	err = eachSource(ctx, named, opts, func(src source) error {
		r, err := sourceRef(src.repo, named)
		if err != nil {
			return err
		}
		d, err := remote.Get(r, src.ropts...)
		if err != nil {
			return err
		}
		res := &registry.DistributionInspect{
			Descriptor: ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size},
			Platforms:  []ocispec.Platform{},
		}
		if d.MediaType.IsIndex() {
			idx, err := d.ImageIndex()
			if err != nil {
				return err
			}
			im, err := idx.IndexManifest()
			if err != nil {
				return err
			}
			for _, m := range im.Manifests {
				if m.Platform != nil {
					res.Platforms = append(res.Platforms, ociPlatform(*m.Platform))
				}
			}
		} else {
			img, err := d.Image()
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return err
			}
			res.Platforms = append(res.Platforms, ociPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}))
		}
		out = res
		return nil
	})
	if err != nil {
		return nil, translate(named, err)
	}
	return out, nil
}

func ociPlatform(p v1.Platform) ocispec.Platform {
	return ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}
