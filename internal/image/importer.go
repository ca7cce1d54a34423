package image

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import makes a one-layer image from a rootfs tar (plain, gzip, bzip2 or
// xz), like `docker import`. changes are Dockerfile-style lines.
func (s *Store) Import(ctx context.Context, r io.Reader, changes []string, comment string) (*Image, error) {
	var cfg dockerspec.DockerOCIImageConfig
	if err := applyChanges(&cfg, changes); err != nil {
		return nil, err
	}
	dec, err := compression.DecompressStream(r)
	if err != nil {
		return nil, errdefs.Invalidf("invalid tar archive: %v", err)
	}
	defer dec.Close()
	diffID, err := s.ingestLayer(ctx, dec, "")
	if err != nil {
		return nil, err
	}
	defer s.release(diffID)
	if comment == "" {
		comment = "Imported from -"
	}
	created := time.Now().UTC()
	cf := configFile{Comment: comment}
	cf.Created = &created
	cf.Platform = ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	cf.Config = cfg
	cf.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}
	cf.History = []ocispec.History{{Created: &created, Comment: comment}}
	raw, err := marshalConfig(&cf)
	if err != nil {
		return nil, err
	}
	img, err := s.register(ctx, raw, "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}
