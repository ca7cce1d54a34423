package image

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/image/layer"
	"github.com/moby/moby/api/types/container"
)

// CreateRW makes container ctrID's read-write layer on img (nil: empty rootfs).
func (s *Store) CreateRW(ctx context.Context, ctrID string, img *Image) error {
	if img == nil {
		return s.layers.CreateRW(ctx, ctrID, nil)
	}
	// Hold the image lock so a concurrent delete cannot drop the layers
	// between the check and the container recording its use of them.
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layers.CreateRW(ctx, ctrID, layer.ChainIDs(img.Layers))
}

// Mount mounts the container's overlay (refcounted) and returns its path.
func (s *Store) Mount(ctx context.Context, ctrID string) (string, error) {
	return s.layers.Mount(ctx, ctrID)
}

// Unmount releases one Mount.
func (s *Store) Unmount(ctx context.Context, ctrID string) error {
	return s.layers.Unmount(ctx, ctrID)
}

// RemoveRW unmounts and deletes the container's layer.
func (s *Store) RemoveRW(ctx context.Context, ctrID string) error {
	if err := s.layers.RemoveRW(ctx, ctrID); err != nil {
		return err
	}
	// The container may have kept alive the layers of an image deleted
	// with force while it existed.
	s.gc(ctx)
	return nil
}

// Changes lists the container's filesystem changes like `docker diff`.
func (s *Store) Changes(ctx context.Context, ctrID string) ([]container.FilesystemChange, error) {
	return s.layers.Changes(ctx, ctrID)
}

// Export writes the container's flattened rootfs as a tar.
func (s *Store) Export(ctx context.Context, ctrID string, w io.Writer) error {
	return s.layers.Export(ctx, ctrID, w)
}

// RWSize is the size of what the container wrote.
func (s *Store) RWSize(ctx context.Context, ctrID string) (int64, error) {
	return s.layers.RWSize(ctx, ctrID)
}

// LayersSize is the unpacked size of all image layers, for /system/df.
func (s *Store) LayersSize(ctx context.Context) (int64, error) {
	chains, err := s.layers.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range chains {
		n += s.layers.Size(c)
	}
	return n, nil
}

// HasRW reports whether container ctrID has a read-write layer.
func (s *Store) HasRW(ctrID string) bool { return s.layers.HasRW(ctrID) }

// RWCandidates lists the directories of the layer store that are not image
// layers: containers' read-write layers, and the ones a crash left half
// made. Build layers ("build-*") are the builder's to clean.
func (s *Store) RWCandidates() ([]string, error) { return s.layers.RWCandidates() }

// IsMounted reports whether container ctrID's overlay is mounted.
func (s *Store) IsMounted(ctrID string) bool { return s.layers.IsMounted(ctrID) }
