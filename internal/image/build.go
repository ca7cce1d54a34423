package image

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/layer"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// StepOptions describe one image the builder makes from a Dockerfile step.
type StepOptions struct {
	// RW is the read-write layer (container or scratch ID) whose changes
	// become the step's layer; empty for a step that only changes config.
	RW string
	// Layer is an existing layer (diff ID) to add instead of RW's changes:
	// a step found in a --cache-from image.
	Layer   digest.Digest
	Config  dockerspec.DockerOCIImageConfig
	Author  string
	History ocispec.History // CreatedBy and Comment; Created and EmptyLayer are set here
	Created time.Time       // zero: now
}

// CommitStep makes a child image of parent (nil for FROM scratch) with the
// given config and, when opts.RW is set, the rw layer's changes as a new
// layer. Like Docker's classic builder the new image records parent as
// its parent, so `images -a` shows the intermediate images.
func (s *Store) CommitStep(ctx context.Context, parent *Image, opts StepOptions) (*Image, error) {
	cf := configFile{}
	var parentID digest.Digest
	if parent != nil {
		cf.DockerOCIImage = parent.Config
		cf.RootFS.DiffIDs = append([]digest.Digest(nil), parent.Layers...)
		cf.History = append([]ocispec.History(nil), parent.Config.History...)
		parentID = parent.ID
	}
	cf.Config = opts.Config
	cf.Author = opts.Author
	created := opts.Created
	if created.IsZero() {
		created = time.Now().UTC()
	}
	cf.Created = &created
	if cf.Architecture == "" {
		cf.Platform = ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	}
	cf.RootFS.Type = "layers"
	h := opts.History
	h.Created = &created
	if opts.Layer != "" {
		// The layer is here as a blob, or unpacked on the same parents (a
		// pulled or loaded --cache-from image keeps no blob), or unpacked
		// elsewhere with its tar recorded.
		diffIDs := append(cf.RootFS.DiffIDs, opts.Layer)
		chains := layer.ChainIDs(diffIDs)
		held := []digest.Digest{opts.Layer, chains[len(chains)-1]}
		s.hold(held...)
		defer s.release(held...)
		if !s.content.Has(opts.Layer) && !s.layers.Has(chains[len(chains)-1]) && len(s.tarChains(opts.Layer)) == 0 {
			return nil, errdefs.NotFoundf("layer %s is not here", opts.Layer)
		}
		cf.RootFS.DiffIDs = diffIDs
	} else if opts.RW != "" {
		rc, err := s.layers.DiffTar(ctx, opts.RW)
		if err != nil {
			return nil, err
		}
		diffID, err := s.ingestLayer(ctx, rc, "")
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("commit build step: %w", err)
		}
		defer s.release(diffID)
		if diffID == emptyTar {
			// A step that changed nothing adds no layer, only history,
			// as dockerd's classic builder (image.NewChildImage).
			h.EmptyLayer = true
		} else {
			cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diffID)
		}
	} else {
		h.EmptyLayer = true
	}
	cf.History = append(cf.History, h)
	raw, err := marshalConfig(&cf)
	if err != nil {
		return nil, err
	}
	return s.register(ctx, raw, parentID)
}

// Get returns the image with exactly this ID.
func (s *Store) Get(id digest.Digest) (*Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.images[id]
	if img == nil {
		return nil, false
	}
	return s.view(img), true
}

// LayerSize is the unpacked size of the top layer of img (0 for none).
func (s *Store) LayerSize(img *Image) int64 {
	if len(img.Layers) == 0 {
		return 0
	}
	chains := layer.ChainIDs(img.Layers)
	return s.layers.Size(chains[len(chains)-1])
}

// RemoveRWWithPrefix removes the rw layers whose IDs start with prefix:
// the scratch layers of a build that a crash interrupted.
func (s *Store) RemoveRWWithPrefix(ctx context.Context, prefix string) {
	rw, err := s.layers.RWLayers()
	if err != nil {
		return
	}
	for id := range rw {
		if strings.HasPrefix(id, prefix) {
			_ = s.layers.RemoveRW(ctx, id)
		}
	}
}
