// Package builds is the engine's build backend: POST /build through the
// Dockerfile builder, the build cache's prune and its part of system df.
package builds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/builder"
	"github.com/berth-project/berth/internal/crashpoint"
	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/image"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
)

// Backend implements engine.BuildBackend, and builder.Backend for the
// Dockerfile builder: RUN steps run as containers of the container backend.
type Backend struct {
	builder    *builder.Builder
	images     *image.Store
	containers engine.ContainerBackend
	users      Users
	announcer  Announcer
}

// Users is what the build backend asks of the container backend beyond
// the contract: which images its containers use.
type Users interface {
	ImageUse() map[digest.Digest]int64
	ImageUser(id digest.Digest) (container string, running bool)
}

// Announcer publishes image events (the image backend does).
type Announcer interface {
	Announce(id, ref string, action events.Action)
}

var (
	_ engine.BuildBackend = (*Backend)(nil)
	_ builder.Backend     = (*Backend)(nil)
)

// Open opens the Dockerfile builder under dir over the image store (it
// clears what an interrupted build left there). Connect must wire the
// backend to the others before it serves a build.
func Open(ctx context.Context, dir string, store *image.Store, log *slog.Logger) (*Backend, error) {
	b := &Backend{images: store}
	bld, err := builder.New(ctx, dir, store, b, log)
	if err != nil {
		return nil, fmt.Errorf("init builder: %w", err)
	}
	b.builder = bld
	return b, nil
}

// Connect hands the backend the others it uses: RUN steps run as
// containers of containers, users tells which images containers use, and
// announcer publishes image events. The builder is opened before the
// container backend restores its containers, as it always was, so this
// comes afterwards.
func (b *Backend) Connect(containers engine.ContainerBackend, users Users, announcer Announcer) {
	b.containers, b.users, b.announcer = containers, users, announcer
}

// imageUse counts containers per image ID.
func (b *Backend) imageUse() map[digest.Digest]int64 { return b.users.ImageUse() }

// usedBy reports a container using the image, preferring a running one.
func (b *Backend) usedBy(id digest.Digest) (string, bool) { return b.users.ImageUser(id) }

// Build serves POST /build.
func (b *Backend) Build(ctx context.Context, opts engine.BuildOptions, body io.Reader, out io.Writer) error {
	id, err := b.builder.Build(ctx, opts, body, out)
	if err != nil {
		return err
	}
	for _, t := range opts.Tags {
		b.announcer.Announce(id.String(), t, events.ActionTag)
	}
	return nil
}

// PullImage implements builder.Backend: FROM of an image that is not here.
func (b *Backend) PullImage(ctx context.Context, ref, platform string, auths map[string]registry.AuthConfig, out io.Writer) (*image.Image, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	full := reference.TagNameOnly(named).String()
	res, err := distribution.Pull(ctx, b.images, full, distribution.PullOptions{Platform: platform, Auth: authFor(reference.Domain(named), auths)}, out)
	if err != nil {
		return nil, err
	}
	b.announcer.Announce(res.Image.ID.String(), full, events.ActionPull)
	return res.Image, nil
}

// authFor picks the credentials for a registry host out of the
// X-Registry-Config map, whose keys may be URLs.
func authFor(host string, auths map[string]registry.AuthConfig) authn.Authenticator {
	for k, a := range auths {
		h := strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
		h, _, _ = strings.Cut(h, "/")
		if h == host || (host == "docker.io" && (h == "index.docker.io" || h == "registry-1.docker.io")) {
			cfg := authn.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth,
				IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
			if cfg != (authn.AuthConfig{}) {
				return authn.FromConfig(cfg)
			}
		}
	}
	return authn.Anonymous
}

// RunContainer implements builder.Backend: one RUN step.
func (b *Backend) RunContainer(ctx context.Context, req builder.RunRequest, stdout, stderr io.Writer, created func(id string)) (string, int, error) {
	creq := &container.CreateRequest{Config: req.Config, HostConfig: req.Host}
	var resp container.CreateResponse
	var err error
	if steps, ok := b.containers.(engine.BuildStepBackend); ok && req.Remove {
		resp, err = steps.ContainerCreateBuildStep(ctx, creq)
	} else {
		resp, err = b.containers.ContainerCreate(ctx, "", creq)
	}
	if err != nil {
		return "", 0, err
	}
	id := resp.ID
	created(id)
	waitCh, err := b.containers.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err != nil {
		return id, 0, err
	}
	ready := make(chan struct{})
	attached := make(chan error, 1)
	go func() {
		attached <- b.containers.ContainerAttach(ctx, id, &engine.StreamConfig{
			GetStreams: func(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
				close(ready) // the attach is registered: output from the first byte is ours
				return nil, stdout, stderr, nil
			},
			UseStdout: true, UseStderr: true, Stream: true,
		})
	}()
	select {
	case <-ready:
	case err := <-attached:
		return id, 0, fmt.Errorf("attach to build container: %w", err)
	}
	if err := b.containers.ContainerStart(ctx, id); err != nil {
		return id, 0, err
	}
	crashpoint.Reach(nil, "build-after-start")
	select {
	case w := <-waitCh:
		select {
		case <-attached:
		case <-time.After(10 * time.Second):
		}
		crashpoint.Reach(nil, "build-after-run")
		if w.Error != nil && w.Error.Message != "" {
			return id, int(w.StatusCode), fmt.Errorf("build container: %s", w.Error.Message)
		}
		return id, int(w.StatusCode), nil
	case <-ctx.Done():
		// The client went away: stop the step's container now.
		_ = b.containers.ContainerKill(context.WithoutCancel(ctx), id, "KILL")
		return id, 0, ctx.Err()
	}
}

// RemoveContainer implements builder.Backend.
func (b *Backend) RemoveContainer(ctx context.Context, id string) error {
	return b.containers.ContainerRemove(ctx, id, true, true)
}

// ImageInUse implements builder.Backend.
func (b *Backend) ImageInUse(id digest.Digest) bool { return b.imageUse()[id] > 0 }

// CacheRecords describes the cache for system df. An entry whose
// image is tagged, has children or is used by a container is Shared: a
// prune would keep its bytes, so the CLI does not count it reclaimable.
func (b *Backend) CacheRecords(ctx context.Context) []any {
	recs := b.builder.Cache().Records(b.images.Has)
	keep := b.imagesKept(ctx)
	out := []any{}
	for _, r := range recs {
		last := r.LastUsed
		out = append(out, build.CacheRecord{ID: r.ID, Type: "regular", Description: r.Description,
			InUse: b.ImageInUse(r.Image), Shared: keep[r.Image], Size: r.Size, CreatedAt: r.Created,
			LastUsedAt: &last, UsageCount: r.UsageCount})
	}
	return out
}

// imagesKept lists images a cache prune must not delete: tagged ones,
// those used by containers, and every ancestor of those.
func (b *Backend) imagesKept(ctx context.Context) map[digest.Digest]bool {
	imgs, _ := b.images.List(ctx)
	byID := map[digest.Digest]*image.Image{}
	for _, img := range imgs {
		byID[img.ID] = img
	}
	use := b.imageUse()
	keep := map[digest.Digest]bool{}
	for _, img := range imgs {
		if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 && use[img.ID] == 0 {
			continue
		}
		for p := img; p != nil && !keep[p.ID]; p = byID[p.Parent] {
			keep[p.ID] = true
		}
	}
	return keep
}

// BuildCachePrune serves POST /build/prune: it deletes the images of cache
// entries nothing else keeps and reports the bytes that left the disk.
// With all, every entry is dropped from the cache.
func (b *Backend) BuildCachePrune(ctx context.Context, all bool, keepStorage int64, f filters.Args) (*build.CachePruneReport, error) {
	if err := f.Validate("until", "label", "label!", "id", "type", "description", "inuse", "shared", "private"); err != nil {
		return nil, err
	}
	// Cache entries carry no labels: label=x (as `system prune --filter
	// label=x` passes it on) matches none of them, label!=x all.
	if len(f.Get("label")) > 0 {
		return &build.CachePruneReport{}, nil
	}
	// The build cache's until is a duration only, as in dockerd.
	for _, v := range f.Get("until") {
		if _, err := time.ParseDuration(v); err != nil {
			return nil, errdefs.Invalidf("failed to prune build cache: \"until\" filter expects a duration (e.g., '24h'): %v", err)
		}
	}
	until, err := f.Until()
	if err != nil {
		return nil, err
	}
	before, err := b.images.LayersSize(ctx)
	if err != nil {
		return nil, err
	}
	recs := b.builder.Cache().Records(b.images.Has)
	eligible := map[digest.Digest]bool{}
	for _, r := range recs {
		if until.IsZero() || r.LastUsed.Before(until) {
			eligible[r.Image] = true
		}
	}
	keep := b.imagesKept(ctx)
	deleted := map[digest.Digest]bool{}
	// Delete leaves first: an image with children is kept until they go.
	for progress := true; progress; {
		progress = false
		imgs, _ := b.images.List(ctx)
		parents := map[digest.Digest]bool{}
		for _, img := range imgs {
			parents[img.Parent] = true
		}
		for _, img := range imgs {
			if !eligible[img.ID] || keep[img.ID] || parents[img.ID] || deleted[img.ID] {
				continue
			}
			if _, err := b.images.Delete(ctx, img.ID.String(), false, true, b.usedBy); err != nil {
				continue
			}
			deleted[img.ID] = true
			progress = true
		}
	}
	rep := &build.CachePruneReport{}
	err = b.builder.Cache().Remove(func(r builder.CacheRecord) bool {
		drop := deleted[r.Image] || !b.images.Has(r.Image) || (all && eligible[r.Image])
		if drop {
			rep.CachesDeleted = append(rep.CachesDeleted, r.ID)
		}
		return drop
	})
	if err != nil {
		return nil, err
	}
	after, err := b.images.LayersSize(ctx)
	if err != nil {
		return nil, err
	}
	if before > after {
		rep.SpaceReclaimed = uint64(before - after)
	}
	return rep, nil
}
