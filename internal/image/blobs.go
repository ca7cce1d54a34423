package image

import (
	"context"
	"fmt"
	"os"

	digest "github.com/opencontainers/go-digest"
)

// RawConfig returns image id's config blob byte for byte: a push must send
// exactly the bytes whose digest is the image ID.
func (s *Store) RawConfig(ctx context.Context, id digest.Digest) ([]byte, error) {
	return s.content.ReadAll(id)
}

// OpenLayer opens the uncompressed layer tar diffID and returns its size.
// An open file stays readable even if a concurrent rmi collects the blob.
func (s *Store) OpenLayer(ctx context.Context, diffID digest.Digest) (*os.File, int64, error) {
	f, err := s.content.Open(diffID)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return f, fi.Size(), nil
}
