// Package builder executes Dockerfiles: POST /build with the classic
// builder's semantics and output (one step per instruction, one image per
// step, "Step N/M", " ---> id"), plus what users ask of BuildKit (skipped
// and parallel stages, RUN --mount=type=cache|bind|tmpfs, heredocs).
//
// Parsing is BuildKit's (frontend/dockerfile/parser, instructions, shell);
// execution is ours. A RUN step runs in an ordinary container of the
// daemon and its rw layer is committed; COPY and ADD write into a scratch
// overlay of the parent image, never through the host's view of a path.
//
// On disk, under <data-root>/builder:
//
//	cache.json          the layer cache: step key → image ID (see cache.go)
//	mounts/<hash>/      RUN --mount=type=cache directories
//	tmp/<random>/       build contexts being used (removed after the build)
package builder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
)

// RunRequest is one RUN step's container.
type RunRequest struct {
	Config *container.Config
	Host   *container.HostConfig
	// Remove says the build removes the container when the step ends
	// (--rm, --force-rm): one a crash leaves behind is the daemon's to
	// remove at its next start.
	Remove bool
}

// Backend is what the builder needs from the daemon.
type Backend interface {
	// PullImage fetches ref into the image store, writing Docker's JSON
	// progress to out.
	PullImage(ctx context.Context, ref, platform string, auths map[string]registry.AuthConfig, out io.Writer) (*image.Image, error)
	// RunContainer creates and runs a container to completion, copying
	// its output. The container is kept (its rw layer holds the changes)
	// and its ID returned even when it fails to start.
	RunContainer(ctx context.Context, req RunRequest, stdout, stderr io.Writer, created func(id string)) (id string, exitCode int, err error)
	// RemoveContainer removes a container and its anonymous volumes.
	RemoveContainer(ctx context.Context, id string) error
	// ImageInUse reports whether a container uses the image.
	ImageInUse(id digest.Digest) bool
}

// Builder runs builds. It is safe for concurrent use.
type Builder struct {
	root   string
	store  *image.Store
	be     Backend
	cache  *Cache
	logger *slog.Logger
}

// New opens the builder's state under root (<data-root>/builder) and
// removes contexts left by a build that a crash interrupted.
func New(ctx context.Context, root string, store *image.Store, be Backend, logger *slog.Logger) (*Builder, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("builder: %w", err)
	}
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(root, "tmp", e.Name()))
		}
	}
	store.RemoveRWWithPrefix(ctx, "build-")
	c, err := openCache(filepath.Join(root, "cache.json"))
	if err != nil {
		return nil, err
	}
	return &Builder{root: root, store: store, be: be, cache: c, logger: logger}, nil
}

// Cache returns the layer cache, for system df and prune.
func (b *Builder) Cache() *Cache { return b.cache }

// Build runs one build, writing the JSON stream to out. It returns the
// image ID; on error nothing of the failed step is left behind (the
// images of the steps that succeeded stay, as cache).
func (b *Builder) Build(ctx context.Context, opts engine.BuildOptions, body io.Reader, out io.Writer) (_ digest.Digest, err error) {
	w := jsonstream.NewWriter(out)
	if opts.Quiet {
		// Like dockerd: -q holds the step output back and shows it only
		// if the build fails.
		var held bytes.Buffer
		w = jsonstream.NewWriter(&held)
		defer func() {
			if err != nil && held.Len() > 0 {
				out.Write(held.Bytes())
			}
		}()
	}
	tmp, err := os.MkdirTemp(filepath.Join(b.root, "tmp"), "ctx-")
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer func() {
		if err != nil {
			// A failed build leaves nothing behind by the time it answers.
			os.RemoveAll(tmp)
			return
		}
		// Deleting a large context (6 ms for 50 MB on ext4) need not
		// delay the answer; an interrupted delete is redone at start.
		go os.RemoveAll(tmp)
	}()
	ctxDir := filepath.Join(tmp, "context")
	start := time.Now()
	sums := map[string]fileSum{}
	deferred := newDeferredContent(ctxDir, dockerfileName(opts))
	defer deferred.release()
	dockerfile, err := b.prepareContext(ctx, opts, body, ctxDir, sums, deferred)
	if err != nil {
		return "", err
	}
	ctxDone := time.Now()
	df, err := parseDockerfile(dockerfile.name, dockerfile.data)
	if err != nil {
		return "", err
	}
	run := &buildRun{b: b, opts: opts, ctxDir: ctxDir, sums: sums, deferred: deferred, df: df, usedArgs: map[string]bool{}}
	img, err := run.execute(ctx, w)
	if err != nil {
		return "", err
	}
	if unused := run.unusedArgs(); len(unused) > 0 {
		w.Stream(fmt.Sprintf("[Warning] One or more build-args %v were not consumed\n", unused))
	}
	stepsDone := time.Now()
	if err := b.cache.save(); err != nil {
		b.logger.Warn("build cache not saved", "err", err)
	}
	defer func() {
		b.logger.Debug("build timing", "context", ctxDone.Sub(start), "steps", stepsDone.Sub(ctxDone), "finish", time.Since(stepsDone))
	}()
	if opts.Quiet {
		w = jsonstream.NewWriter(out)
	}
	aux := json.RawMessage(`{"ID":"` + img.ID.String() + `"}`)
	w.WriteMessage(jsonstream.Message{Aux: &aux})
	if opts.Quiet {
		w.Stream(img.ID.String() + "\n")
	} else {
		w.Stream("Successfully built " + shortID(img.ID) + "\n")
	}
	for _, t := range opts.Tags {
		// A cached rebuild leaves the tag where it is: no write at all.
		if cur, err := b.store.Resolve(ctx, t); err != nil || cur.ID != img.ID || !hasTag(cur, t) {
			if err := b.store.Tag(ctx, img.ID, t); err != nil {
				return "", err
			}
		}
		if !opts.Quiet {
			w.Stream("Successfully tagged " + familiarTag(t) + "\n")
		}
	}
	return img.ID, nil
}

// hasTag reports whether the image carries tag t by name (not only
// matching it as an ID prefix).
func hasTag(img *image.Image, t string) bool {
	want := familiarTag(t)
	for _, rt := range img.RepoTags {
		if rt == want || "docker.io/library/"+rt == want || "docker.io/"+rt == want {
			return true
		}
	}
	return false
}

func (r *buildRun) unusedArgs() []string {
	var out []string
	for k := range r.opts.BuildArgs {
		if !r.usedArgs[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func shortID(id digest.Digest) string {
	e := id.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// familiarTag prints a tag as the CLI gave it, with ":latest" added.
func familiarTag(t string) string {
	last := t[strings.LastIndex(t, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(t, "@") {
		return t + ":latest"
	}
	return t
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// invalid classes an error as bad input (400) unless it already has a class.
func invalid(err error) error {
	if errdefs.IsClassified(err) {
		return err
	}
	return errdefs.Invalid(err)
}

var errSkip = errors.New("skip")
