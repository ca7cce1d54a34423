package image

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe a `docker commit`.
type CommitOptions struct {
	Config *container.Config // the request's config, or the container's
	// Defaults, when set, is the container's config, filling what Config
	// leaves unset once the changes are applied (dockerd's merge).
	Defaults     *container.Config
	Comment      string
	Author       string
	Changes      []string
	ContainerID  string
	ContainerCmd []string // what the history says created the layer
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
	if opts.Defaults != nil {
		fillCommitConfig(&cf.Config, fromContainerConfig(opts.Defaults, cf.Config))
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
	h := ocispec.History{Created: &created, Author: opts.Author, Comment: opts.Comment}
	// A container that changed nothing adds no layer, only history, as
	// dockerd's commit.
	if diffID == emptyTar {
		h.EmptyLayer = true
	} else {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diffID)
	}
	// Docker records the container's command as what created the layer.
	h.CreatedBy = strings.Join(opts.ContainerCmd, " ")
	cf.History = append(cf.History, h)
	raw, err := marshalConfig(&cf)
	if err != nil {
		return nil, err
	}
	return s.register(ctx, raw, parentID)
}

// fillCommitConfig completes the config a commit request gave (with its
// changes applied) from the container's, field by field as dockerd's
// merge does: unset values are taken, ports, labels, volumes and
// variables of other names added, the command only without entrypoint.
func fillCommitConfig(user *dockerspec.DockerOCIImageConfig, ctr dockerspec.DockerOCIImageConfig) {
	if user.User == "" {
		user.User = ctr.User
	}
	user.ExposedPorts = union(user.ExposedPorts, ctr.ExposedPorts)
	if len(user.Env) == 0 {
		user.Env = ctr.Env
	} else {
		for _, e := range ctr.Env {
			k, _, _ := strings.Cut(e, "=")
			if !slices.ContainsFunc(user.Env, func(u string) bool { uk, _, _ := strings.Cut(u, "="); return uk == k }) {
				user.Env = append(user.Env, e)
			}
		}
	}
	if user.Labels == nil {
		user.Labels = map[string]string{}
	}
	for k, v := range ctr.Labels {
		if _, ok := user.Labels[k]; !ok {
			user.Labels[k] = v
		}
	}
	if len(user.Entrypoint) == 0 {
		if len(user.Cmd) == 0 {
			user.Cmd, user.ArgsEscaped = ctr.Cmd, ctr.ArgsEscaped
		}
		if user.Entrypoint == nil {
			user.Entrypoint = ctr.Entrypoint
		}
	}
	if h := ctr.Healthcheck; h != nil {
		if user.Healthcheck == nil {
			user.Healthcheck = h
		} else {
			u := *user.Healthcheck
			if len(u.Test) == 0 {
				u.Test = h.Test
			}
			if u.Interval == 0 {
				u.Interval = h.Interval
			}
			if u.Timeout == 0 {
				u.Timeout = h.Timeout
			}
			if u.StartPeriod == 0 {
				u.StartPeriod = h.StartPeriod
			}
			if u.StartInterval == 0 {
				u.StartInterval = h.StartInterval
			}
			if u.Retries == 0 {
				u.Retries = h.Retries
			}
			user.Healthcheck = &u
		}
	}
	if user.WorkingDir == "" {
		user.WorkingDir = ctr.WorkingDir
	}
	user.Volumes = union(user.Volumes, ctr.Volumes)
	if user.StopSignal == "" {
		user.StopSignal = ctr.StopSignal
	}
}

// union adds the keys of b to a (b itself when a is empty).
func union(a, b map[string]struct{}) map[string]struct{} {
	if len(a) == 0 {
		return b
	}
	maps.Copy(a, b)
	return a
}

// emptyTar is the diff ID of a layer without entries: a tar of just its
// end marker, two zero blocks.
var emptyTar = digest.FromBytes(make([]byte, 1024))

// fromContainerConfig maps the container's effective config onto the
// image config; the container's values win, as in docker commit.
func fromContainerConfig(c *container.Config, base dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	out := base
	out.User = c.User
	out.Env = append([]string(nil), c.Env...)
	out.Entrypoint = append([]string(nil), c.Entrypoint...)
	out.Cmd = append([]string(nil), c.Cmd...)
	out.WorkingDir = c.WorkingDir
	out.Labels = maps.Clone(c.Labels) // changes write into these: never the container's own
	out.StopSignal = c.StopSignal
	out.ArgsEscaped = c.ArgsEscaped
	out.Healthcheck = c.Healthcheck
	out.OnBuild = slices.Clone(c.OnBuild)
	out.Shell = slices.Clone(c.Shell)
	out.Volumes = maps.Clone(c.Volumes)
	out.ExposedPorts = nil
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return out
}
