package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// state is a stage's image as the steps so far made it.
type state struct {
	img    *image.Image // nil while a FROM scratch stage has no step yet
	cfg    dockerspec.DockerOCIImageConfig
	author string
	args   map[string]string // ARGs declared in this stage, with values
	cmdSet bool              // CMD was given in this stage
}

func (st *state) parentID() string {
	if st.img == nil {
		return "scratch"
	}
	return st.img.ID.String()
}

// env is what word expansion sees: ARGs, then ENV over them.
func (st *state) env() shell.EnvGetter {
	m := map[string]string{}
	for k, v := range st.args {
		m[k] = v
	}
	for _, kv := range st.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return shell.EnvsFromSlice(sortedEnv(m))
}

// build runs the stage's steps; total is the number of steps in the build.
func (s *stageRun) build(ctx context.Context, total int) (*image.Image, error) {
	n := s.step
	s.stepLine(n, total, s.st.SourceCode)
	st, err := s.from(ctx)
	if err != nil {
		return nil, err
	}
	if st.img != nil {
		s.say(" ---> %s\n", shortID(st.img.ID))
	}
	if err := s.onBuild(ctx, st); err != nil {
		return nil, err
	}
	for _, c := range s.st.Commands {
		n++
		s.stepLine(n, total, commandText(c))
		if err := s.dispatch(ctx, st, c); err != nil {
			return nil, err
		}
		s.say(" ---> %s\n", shortID(st.img.ID))
	}
	if s.labels {
		n++
		keys := make([]string, 0, len(s.r.opts.Labels))
		for k := range s.r.opts.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%s", k, s.r.opts.Labels[k]))
		}
		text := "LABEL " + strings.Join(parts, " ")
		s.stepLine(n, total, text)
		if err := s.metadata(ctx, st, text, func() {
			if st.cfg.Labels == nil {
				st.cfg.Labels = map[string]string{}
			}
			for k, v := range s.r.opts.Labels {
				st.cfg.Labels[k] = v
			}
		}); err != nil {
			return nil, err
		}
		s.say(" ---> %s\n", shortID(st.img.ID))
	}
	if st.img == nil {
		// FROM scratch with nothing else: an empty image, as Docker makes.
		if err := s.metadata(ctx, st, "FROM scratch", func() {}); err != nil {
			return nil, err
		}
	}
	return st.img, nil
}

func commandText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return c.Name()
}

// from resolves the stage's base: scratch, an earlier stage, or an image
// (pulled when missing, or always with --pull).
func (s *stageRun) from(ctx context.Context) (*state, error) {
	if err := checkPlatform(s.r.opts.Platform); err != nil {
		return nil, err
	}
	if p, err := s.r.expandMeta(s.st.Platform); err != nil || checkPlatform(p) != nil {
		return nil, errdefs.Invalidf("FROM --platform=%s: only linux/%s is supported", s.st.Platform, runtime.GOARCH)
	}
	st := &state{args: map[string]string{}}
	if strings.EqualFold(s.base, "scratch") {
		return st, nil
	}
	img, err := s.image(ctx, s.base)
	if err != nil {
		return nil, err
	}
	st.img = img
	st.cfg = cloneConfig(img.Config.Config)
	st.author = img.Config.Author
	return st, nil
}

func checkPlatform(p string) error {
	switch p {
	case "", "linux", "linux/" + runtime.GOARCH:
		return nil
	}
	return errdefs.Invalidf("platform %q is not supported: berth builds for linux/%s", p, runtime.GOARCH)
}

// image returns an earlier stage's result or an image by reference.
func (s *stageRun) image(ctx context.Context, ref string) (*image.Image, error) {
	if j, ok := s.r.stageByName(ref, s.index); ok {
		<-s.r.stages[j].done
		if s.r.stages[j].img == nil {
			return nil, errSkip
		}
		return s.r.stages[j].img, nil
	}
	if !s.r.opts.Pull {
		if img, err := s.r.b.store.Resolve(ctx, ref); err == nil {
			return img, nil
		} else if !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	img, err := s.r.b.be.PullImage(ctx, ref, s.r.opts.Platform, s.r.opts.AuthConfigs, s.out)
	if err != nil {
		return nil, err
	}
	return img, nil
}

// onBuild runs the base image's ONBUILD triggers, then drops them.
func (s *stageRun) onBuild(ctx context.Context, st *state) error {
	triggers := st.cfg.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	s.say("# Executing %d build trigger", len(triggers))
	if len(triggers) > 1 {
		s.say("s")
	}
	s.say("\n")
	st.cfg.OnBuild = nil
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return errdefs.Invalidf("failed to parse ONBUILD trigger %q: %v", t, err)
		}
		for _, node := range res.AST.Children {
			switch strings.ToUpper(node.Value) {
			case "ONBUILD", "FROM", "MAINTAINER":
				return errdefs.Invalidf("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(node.Value))
			}
			c, err := instructions.ParseCommand(node)
			if err != nil {
				return errdefs.Invalidf("failed to parse ONBUILD trigger %q: %v", t, err)
			}
			if err := s.dispatch(ctx, st, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// dispatch runs one instruction.
func (s *stageRun) dispatch(ctx context.Context, st *state, c instructions.Command) error {
	expand := func(word string) (string, error) {
		return s.r.processWord(word, st.env())
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(expand); err != nil {
			return errdefs.Invalidf("%s: %v", commandText(c), err)
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(expand); err != nil {
			return errdefs.Invalidf("%s: %v", commandText(c), err)
		}
	}
	switch c := c.(type) {
	case *instructions.RunCommand:
		return s.run(ctx, st, c)
	case *instructions.CopyCommand:
		return s.copy(ctx, st, copyFromCommand(c))
	case *instructions.AddCommand:
		return s.copy(ctx, st, copyFromAdd(c))
	case *instructions.ArgCommand:
		return s.arg(ctx, st, c)
	case *instructions.CmdCommand:
		return s.metadata(ctx, st, commandText(c), func() {
			st.cfg.Cmd = shellForm(st.cfg, c.ShellDependantCmdLine)
			st.cmdSet = true
		})
	case *instructions.EntrypointCommand:
		return s.metadata(ctx, st, commandText(c), func() {
			st.cfg.Entrypoint = shellForm(st.cfg, c.ShellDependantCmdLine)
			if !st.cmdSet {
				// An ENTRYPOINT resets the CMD inherited from the base image.
				st.cfg.Cmd = nil
			}
		})
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			base := st.cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			p = path.Join(base, p)
		}
		return s.workdir(ctx, st, commandText(c), path.Clean(p))
	case *instructions.MaintainerCommand:
		return s.metadata(ctx, st, commandText(c), func() { st.author = c.Maintainer })
	case *instructions.EnvCommand, *instructions.LabelCommand, *instructions.ExposeCommand,
		*instructions.UserCommand, *instructions.VolumeCommand, *instructions.StopSignalCommand,
		*instructions.HealthCheckCommand, *instructions.ShellCommand, *instructions.OnbuildCommand:
		var err error
		if ex, ok := c.(*instructions.ExposeCommand); ok {
			for i, p := range ex.Ports {
				if ex.Ports[i], err = expand(p); err != nil {
					return errdefs.Invalidf("%s: %v", commandText(c), err)
				}
			}
		}
		merr := s.metadata(ctx, st, commandText(c), func() { err = image.ApplyInstruction(&st.cfg, c) })
		if err != nil {
			return errdefs.Invalid(err)
		}
		return merr
	default:
		return errdefs.Invalidf("%s is not supported by berth's builder", strings.ToUpper(c.Name()))
	}
}

// arg declares build arguments in the stage.
func (s *stageRun) arg(ctx context.Context, st *state, c *instructions.ArgCommand) error {
	return s.metadata(ctx, st, commandText(c), func() {
		for _, kv := range c.Args {
			if v, ok := s.r.opts.BuildArgs[kv.Key]; ok && v != nil {
				st.args[kv.Key] = *v
				s.r.markUsed(kv.Key)
				continue
			}
			if kv.Value != nil {
				st.args[kv.Key] = *kv.Value
				continue
			}
			if v, ok := s.r.meta[kv.Key]; ok {
				st.args[kv.Key] = v
			}
			s.r.markUsed(kv.Key)
		}
	})
}

// metadata makes a config-only step: apply changes st's config, then look
// the result up in the cache or commit it.
func (s *stageRun) metadata(ctx context.Context, st *state, text string, apply func()) error {
	apply()
	createdBy := "/bin/sh -c #(nop)  " + text
	key, err := configKey(st, createdBy)
	if err != nil {
		return err
	}
	if s.probe(ctx, st, key, createdBy) {
		return nil
	}
	return s.commit(ctx, st, key, "", createdBy, text)
}

// configKey is the cache key of a step whose outcome is st's config and
// author on st's parent, written as createdBy.
func configKey(st *state, createdBy string) (string, error) {
	cfgJSON, err := json.Marshal(struct {
		C dockerspec.DockerOCIImageConfig
		A string
	}{st.cfg, st.author})
	if err != nil {
		return "", err
	}
	return cacheKey(st.parentID(), createdBy, string(cfgJSON)), nil
}

// inScratchLayer makes a writable layer on st's image, mounts it, runs
// change on its root and unmounts it; a nil error leaves the layer for
// the caller to commit (it is removed when the step ends either way).
func (s *stageRun) inScratchLayer(ctx context.Context, st *state, change func(rootfs string) error) (rw string, cleanup func(), err error) {
	rw = "build-" + randomID()[:24]
	if err := s.r.b.store.CreateRW(ctx, rw, st.img); err != nil {
		return "", func() {}, err
	}
	cleanup = func() {
		if err := s.r.b.store.RemoveRW(context.WithoutCancel(ctx), rw); err != nil {
			s.r.b.logger.Warn("remove build layer", "id", rw, "err", err)
		}
	}
	rootfs, err := s.r.b.store.Mount(ctx, rw)
	if err != nil {
		return rw, cleanup, err
	}
	err = change(rootfs)
	if uerr := s.r.b.store.Unmount(context.WithoutCancel(ctx), rw); err == nil {
		err = uerr
	}
	return rw, cleanup, err
}

// workdir runs a WORKDIR step as dockerd's classic builder does: the
// directory (and its missing parents, root's, 0755) is made in a layer of
// its own when the image lacks it, and the step is history only when it
// is there already. The history says "#(nop) WORKDIR <dir>" with one space
// (dockerd's withCmdCommentString), unlike the other config steps.
func (s *stageRun) workdir(ctx context.Context, st *state, text, dir string) error {
	st.cfg.WorkingDir = dir
	createdBy := "/bin/sh -c #(nop) WORKDIR " + dir
	key, err := configKey(st, createdBy)
	if err != nil {
		return err
	}
	if s.probe(ctx, st, key, createdBy) {
		return nil
	}
	rw, cleanup, err := s.inScratchLayer(ctx, st, func(rootfs string) error {
		return archive.MkdirAll(ctx, rootfs, dir, 0, 0)
	})
	defer cleanup()
	if err != nil {
		if strings.HasSuffix(err.Error(), fmt.Sprintf("mkdir %s: %s is not a directory", dir, dir)) {
			return fmt.Errorf("Cannot mkdir: %s is not a directory", dir)
		}
		return err
	}
	return s.commit(ctx, st, key, rw, createdBy, text)
}

// probe looks a step up in the cache, then in the --cache-from images; on
// a hit st moves to the cached image.
func (s *stageRun) probe(ctx context.Context, st *state, key, createdBy string) bool {
	if s.r.opts.NoCache {
		return false
	}
	id, ok := s.r.b.cache.get(key)
	var img *image.Image
	if ok {
		img, ok = s.r.b.store.Get(id)
	}
	if ok && len(s.r.opts.CacheFrom) > 0 && !s.r.underCacheSource(img.ID) {
		// With --cache-from the classic builder takes its own cache
		// only for images a listed one was built on; other steps come
		// from the listed images' history or run.
		ok = false
	}
	if !ok {
		if img = s.fromCacheSources(ctx, st, key, createdBy); img == nil {
			return false
		}
	}
	args, cmdSet := st.args, st.cmdSet
	*st = state{img: img, cfg: cloneConfig(img.Config.Config), author: img.Config.Author, args: args, cmdSet: cmdSet}
	s.r.b.cache.used(key)
	s.say(" ---> Using cache\n")
	return true
}

// commit makes the step's image from st (and rw's changes, if any) and
// records it in the cache.
func (s *stageRun) commit(ctx context.Context, st *state, key, rw, createdBy, description string) error {
	cfg := cloneConfig(st.cfg)
	img, err := s.r.b.store.CommitStep(ctx, st.img, image.StepOptions{
		RW: rw, Config: cfg, Author: st.author,
		History: ocispec.History{CreatedBy: createdBy},
	})
	if err != nil {
		return err
	}
	st.img = img
	// A step that changed nothing has no layer of its own (EmptyLayer).
	layered := rw != "" && len(img.Config.History) > 0 && !img.Config.History[len(img.Config.History)-1].EmptyLayer
	var size int64
	if layered {
		size = s.r.b.store.LayerSize(img)
	}
	s.r.b.cache.put(key, cacheEntry{Image: img.ID, Description: description, Size: size, Layer: layered})
	return nil
}

// cacheKey hashes a step's inputs.
func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shellForm wraps a shell-form command line in the stage's shell.
func shellForm(cfg dockerspec.DockerOCIImageConfig, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	return append(defaultShell(cfg), strings.Join(c.CmdLine, " "))
}

func defaultShell(cfg dockerspec.DockerOCIImageConfig) []string {
	if len(cfg.Shell) > 0 {
		return slices.Clone(cfg.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	b, err := json.Marshal(c)
	if err != nil {
		return c
	}
	var out dockerspec.DockerOCIImageConfig
	if json.Unmarshal(b, &out) != nil {
		return c
	}
	return out
}
