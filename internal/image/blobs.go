package image

import (
	"context"
	"io"

	digest "github.com/opencontainers/go-digest"
)

// RawConfig returns image id's config blob byte for byte: a push must send
// exactly the bytes whose digest is the image ID.
func (s *Store) RawConfig(ctx context.Context, id digest.Digest) ([]byte, error) {
	return s.content.ReadAll(id)
}

// OpenLayer opens the uncompressed layer tar diffID and returns its size.
// What it reads from (a blob, or a layer it is put back together from)
// stays readable until it is closed, even if a concurrent rmi collects it.
func (s *Store) OpenLayer(ctx context.Context, diffID digest.Digest) (io.ReadCloser, int64, error) {
	return s.openLayerTar(diffID)
}
