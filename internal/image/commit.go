package image

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe a `docker commit`.
type CommitOptions struct {
	Config      *container.Config // full effective container config
	Comment     string
	Author      string
	Changes     []string
	ContainerID string
}

// Commit turns container ctrID's changes into a new image on top of parent
// (nil for a container without image).
func (s *Store) Commit(ctx context.Context, ctrID string, parent *Image, opts CommitOptions) (*Image, error) {
	cf := configFile{Comment: opts.Comment, Container: opts.ContainerID}
	var parentID digest.Digest
	if parent != nil {
		cf.DockerOCIImage = parent.Config
		cf.RootFS.DiffIDs = append([]digest.Digest(nil), parent.Layers...)
		cf.History = append([]ocispec.History(nil), parent.Config.History...)
		parentID = parent.ID
	}
	if opts.Config != nil {
		cf.Config = fromContainerConfig(opts.Config, cf.Config)
	}
	if err := applyChanges(&cf.Config, opts.Changes); err != nil {
		return nil, err
	}
	rc, err := s.layers.DiffTar(ctx, ctrID)
	if err != nil {
		return nil, err
	}
	diffID, err := s.ingestLayer(ctx, rc, "")
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", ctrID, err)
	}
	defer s.release(diffID)
	created := time.Now().UTC()
	cf.Created = &created
	cf.Author = opts.Author
	if cf.Architecture == "" {
		cf.Platform = ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	}
	cf.RootFS.Type = "layers"
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diffID)
	h := ocispec.History{Created: &created, Author: opts.Author, Comment: opts.Comment}
	if opts.Config != nil {
		// Docker records the container's command as what created the layer.
		h.CreatedBy = strings.Join(opts.Config.Cmd, " ")
	}
	cf.History = append(cf.History, h)
	raw, err := marshalConfig(&cf)
	if err != nil {
		return nil, err
	}
	return s.register(ctx, raw, parentID)
}

// fromContainerConfig maps the container's effective config onto the
// image config; the container's values win, as in docker commit.
func fromContainerConfig(c *container.Config, base dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	out := base
	out.User = c.User
	out.Env = append([]string(nil), c.Env...)
	out.Entrypoint = append([]string(nil), c.Entrypoint...)
	out.Cmd = append([]string(nil), c.Cmd...)
	out.WorkingDir = c.WorkingDir
	out.Labels = c.Labels
	out.StopSignal = c.StopSignal
	out.ArgsEscaped = c.ArgsEscaped
	out.Healthcheck = c.Healthcheck
	out.OnBuild = c.OnBuild
	out.Shell = c.Shell
	out.Volumes = c.Volumes
	out.ExposedPorts = nil
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return out
}
