package builder

import (
	"context"
	"fmt"

	"github.com/berth-project/berth/internal/image"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// resolveCacheFrom finds the --cache-from images that are here; the
// classic builder does not pull them, and skips those it cannot find.
func (r *buildRun) resolveCacheFrom(ctx context.Context) {
	for _, ref := range r.opts.CacheFrom {
		img, err := r.b.store.Resolve(ctx, ref)
		if err != nil {
			continue
		}
		r.cacheFrom = append(r.cacheFrom, img)
	}
}

// underCacheSource reports whether id is an ancestor of a --cache-from
// image by the parent chain (the image itself is not: dockerd then
// matches it by history, as fromCacheSources does).
func (r *buildRun) underCacheSource(id digest.Digest) bool {
	for _, src := range r.cacheFrom {
		seen := map[digest.Digest]bool{}
		for p := src.Parent; p != "" && !seen[p]; {
			if p == id {
				return true
			}
			seen[p] = true
			img, ok := r.b.store.Get(p)
			if !ok {
				break
			}
			p = img.Parent
		}
	}
	return false
}

// fromCacheSources matches a step against the --cache-from images the
// way Docker's classic builder does when the images carry no parent
// chain (pulled or loaded): a source whose history and layers start with
// the current image's, and whose next history entry was made by this very
// step, provides the step's result. The result is made here, with the
// source's layer and time, so a fully cached build gives the source's ID.
func (s *stageRun) fromCacheSources(ctx context.Context, st *state, key, createdBy string) *image.Image {
	var hist []ocispec.History
	var layers []digest.Digest
	if st.img != nil {
		hist, layers = st.img.Config.History, st.img.Layers
	}
	for _, src := range s.r.cacheFrom {
		if !extends(src, hist, layers) || src.Config.History[len(hist)].CreatedBy != createdBy {
			continue
		}
		h := src.Config.History[len(hist)]
		opts := image.StepOptions{Config: cloneConfig(st.cfg), Author: st.author,
			History: ocispec.History{CreatedBy: createdBy, Comment: h.Comment}}
		if h.Created != nil {
			opts.Created = *h.Created
		}
		if !h.EmptyLayer {
			if len(src.Layers) <= len(layers) {
				continue
			}
			opts.Layer = src.Layers[len(layers)]
		}
		img, err := s.r.b.store.CommitStep(ctx, st.img, opts)
		if err != nil {
			s.r.b.logger.Warn("cache-from", "image", src.ID, "err", fmt.Sprint(err))
			return nil
		}
		var size int64
		if opts.Layer != "" {
			size = s.r.b.store.LayerSize(img)
		}
		s.r.b.cache.put(key, cacheEntry{Image: img.ID, Description: "cache-from " + createdBy, Size: size, Layer: opts.Layer != ""})
		return img
	}
	return nil
}

// extends reports whether src's history and layers start with hist and
// layers and go on by at least one step.
func extends(src *image.Image, hist []ocispec.History, layers []digest.Digest) bool {
	sh := src.Config.History
	if len(sh) <= len(hist) || len(src.Layers) < len(layers) || !sameHistory(sh[:len(hist)], hist) {
		return false
	}
	for i := range layers {
		if src.Layers[i] != layers[i] {
			return false
		}
	}
	return true
}

func sameHistory(a, b []ocispec.History) bool {
	for i := range a {
		if a[i].CreatedBy != b[i].CreatedBy || a[i].EmptyLayer != b[i].EmptyLayer {
			return false
		}
	}
	return true
}
