package image

import (
	"encoding/json"
	"runtime"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ociItems reads a plain OCI image layout (index.json, no manifest.json,
// as written by buildx and other tools) into manifest.json's form. Nested
// indexes pick the linux manifest for this machine's architecture.
func (sp *streamed) ociItems() ([]manifestItem, error) {
	var idx ocispec.Index
	if err := sp.decode("index.json", &idx); err != nil {
		return nil, errdefs.Invalidf("invalid archive: neither manifest.json nor index.json: %v", err)
	}
	var out []manifestItem
	for _, d := range idx.Manifests {
		name := d.Annotations["io.containerd.image.name"]
		if name == "" {
			name = d.Annotations[ocispec.AnnotationRefName]
		}
		if d.MediaType == ocispec.MediaTypeImageIndex {
			var nested ocispec.Index
			if err := sp.decode(blobPath(d.Digest), &nested); err != nil {
				return nil, err
			}
			var ok bool
			if d, ok = pickPlatform(nested.Manifests); !ok {
				return nil, errdefs.NotFoundf("no linux/%s image in the archive", runtime.GOARCH)
			}
		}
		var m ocispec.Manifest
		if err := sp.decode(blobPath(d.Digest), &m); err != nil {
			return nil, err
		}
		item := manifestItem{Config: blobPath(m.Config.Digest)}
		for _, l := range m.Layers {
			item.Layers = append(item.Layers, blobPath(l.Digest))
		}
		// Only full references become tags; a bare "latest" names nothing.
		if _, err := reference.ParseNormalizedNamed(name); err == nil && name != "" {
			item.RepoTags = []string{name}
		}
		out = append(out, item)
	}
	return out, nil
}

func pickPlatform(ds []ocispec.Descriptor) (ocispec.Descriptor, bool) {
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, true
		}
	}
	return ocispec.Descriptor{}, false
}

func (sp *streamed) decode(name string, v any) error {
	f, err := sp.open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return errdefs.Invalidf("invalid archive: %s: %v", name, err)
	}
	return nil
}
