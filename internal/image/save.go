package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/berth-project/berth/internal/image/layer"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestItem is one entry of a docker-archive's manifest.json.
type manifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Save writes the images named by refs as a docker-archive in the layout
// of docker 25+ (OCI image layout plus manifest.json and repositories),
// which dockerd 20.10 and current docker both load. Layers are written
// uncompressed, byte for byte as stored.
func (s *Store) Save(ctx context.Context, refs []string, w io.Writer) error {
	type entry struct {
		img  *Image
		tags []string // normalized
	}
	var order []digest.Digest
	byID := map[digest.Digest]*entry{}
	for _, r := range refs {
		img, err := s.Resolve(ctx, r)
		if err != nil {
			return err
		}
		e := byID[img.ID]
		if e == nil {
			e = &entry{img: img}
			byID[img.ID] = e
			order = append(order, img.ID)
		}
		if !isIDPrefix(img.ID, r) {
			if n, err := normalize(r); err == nil {
				e.tags = append(e.tags, n)
			}
		}
	}
	tw := &archiveWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	var manifest []manifestItem
	repos := map[string]map[string]string{}
	for _, id := range order {
		e := byID[id]
		desc, item, err := s.saveImage(ctx, tw, e.img)
		if err != nil {
			return err
		}
		for _, t := range e.tags {
			named, _ := reference.ParseNormalizedNamed(t)
			tagged, _ := named.(reference.NamedTagged)
			d := desc
			d.Annotations = map[string]string{"io.containerd.image.name": t}
			if tagged != nil {
				d.Annotations[ocispec.AnnotationRefName] = tagged.Tag()
				fam := reference.FamiliarName(named)
				if repos[fam] == nil {
					repos[fam] = map[string]string{}
				}
				repos[fam][tagged.Tag()] = id.Encoded()
			}
			index.Manifests = append(index.Manifests, d)
			item.RepoTags = append(item.RepoTags, familiar(t))
		}
		if len(e.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		manifest = append(manifest, item)
	}
	meta := []struct {
		name string
		v    any
	}{{"index.json", index}, {"manifest.json", manifest},
		{"oci-layout", ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}}, {"repositories", repos}}
	for _, m := range meta {
		b, err := json.Marshal(m.v)
		if err != nil {
			return err
		}
		if err := tw.bytes(m.name, b); err != nil {
			return err
		}
	}
	return tw.tw.Close()
}

// saveImage writes img's config, layers and manifest blobs.
func (s *Store) saveImage(ctx context.Context, tw *archiveWriter, img *Image) (ocispec.Descriptor, manifestItem, error) {
	var item manifestItem
	raw, err := s.content.ReadAll(img.ID)
	if err != nil {
		return ocispec.Descriptor{}, item, err
	}
	if err := tw.bytes(blobPath(img.ID), raw); err != nil {
		return ocispec.Descriptor{}, item, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.ID, Size: int64(len(raw))},
		Layers: []ocispec.Descriptor{}}
	m.SchemaVersion = 2
	item.Config = blobPath(img.ID)
	chains := layer.ChainIDs(img.Layers)
	for i, l := range img.Layers {
		size, err := s.saveLayer(ctx, tw, l, chains[i])
		if err != nil {
			return ocispec.Descriptor{}, item, err
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l, Size: size})
		item.Layers = append(item.Layers, blobPath(l))
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, item, err
	}
	md := digest.FromBytes(mb)
	if err := tw.bytes(blobPath(md), mb); err != nil {
		return ocispec.Descriptor{}, item, err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}, item, nil
}

// saveLayer writes the layer tar diffID (unpacked as chain) once and
// returns its length.
func (s *Store) saveLayer(ctx context.Context, tw *archiveWriter, d, chain digest.Digest) (int64, error) {
	name := blobPath(d)
	rc, size, err := s.openLayerTar(d, chain)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if tw.written[name] {
		return size, nil
	}
	if err := tw.header(name, size); err != nil {
		return 0, err
	}
	if _, err := io.Copy(tw.tw, ctxReader{ctx, rc}); err != nil {
		return 0, fmt.Errorf("save layer %s: %w", d, err)
	}
	return size, nil
}

func blobPath(d digest.Digest) string { return "blobs/sha256/" + d.Encoded() }

// archiveWriter writes each name once, with directories before files.
type archiveWriter struct {
	tw      *tar.Writer
	written map[string]bool
}

func (a *archiveWriter) header(name string, size int64) error {
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if len(name) > len(dir) && name[:len(dir)] == dir && !a.written[dir] {
			a.written[dir] = true
			if err := a.tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
		}
	}
	a.written[name] = true
	return a.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)})
}

func (a *archiveWriter) bytes(name string, b []byte) error {
	if a.written[name] {
		return nil
	}
	if err := a.header(name, int64(len(b))); err != nil {
		return err
	}
	_, err := a.tw.Write(b)
	return err
}

// ctxReader stops a long copy when the request goes away.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
