package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// run executes a RUN step in a container and commits its changes.
func (s *stageRun) run(ctx context.Context, st *state, c *instructions.RunCommand) error {
	cmd := runCommandLine(st, c)
	argsEnv := s.argsEnv(st)
	createdBy := strings.Join(cmd, " ")
	if len(argsEnv) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(argsEnv), strings.Join(argsEnv, " "), createdBy)
	}
	mounts := instructions.GetMounts(c)
	network := string(instructions.GetNetwork(c))
	key := cacheKey(st.parentID(), "RUN", createdBy, fmt.Sprintf("%+v", mountKeys(mounts)), network)
	if s.probe(ctx, st, key, createdBy) {
		return nil
	}
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	hostMounts, err := s.runMounts(ctx, st, mounts, &releases)
	if err != nil {
		return err
	}
	env := append([]string(nil), st.cfg.Env...)
	have := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for k, v := range st.args {
		if !have[k] {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range s.r.opts.BuildArgs {
		if builtinArgs[k] && v != nil && !have[k] {
			if _, declared := st.args[k]; !declared {
				env = append(env, k+"="+*v)
			}
		}
	}
	o := s.r.opts
	netMode := o.NetworkMode
	switch network {
	case "none", "host":
		netMode = network
	}
	if netMode == "default" {
		netMode = ""
	}
	imageRef := ""
	if st.img != nil {
		imageRef = st.img.ID.String()
	}
	req := RunRequest{
		Config: &container.Config{
			Image: imageRef, Cmd: cmd, Env: env, User: st.cfg.User, WorkingDir: st.cfg.WorkingDir,
			Entrypoint: []string{""}, Labels: map[string]string{},
		},
		Host: &container.HostConfig{
			NetworkMode: container.NetworkMode(netMode), ExtraHosts: o.ExtraHosts, ShmSize: o.ShmSize,
			Resources: o.Resources, Mounts: hostMounts,
		},
		Remove: o.Remove || o.ForceRemove,
	}
	var ctrID string
	stdout := streamWriter{s}
	id, code, err := s.r.b.be.RunContainer(ctx, req, stdout, stdout, func(id string) {
		ctrID = id
		s.say(" ---> Running in %s\n", id[:12])
	})
	if id != "" {
		ctrID = id
	}
	fail := func(err error) error {
		if ctrID != "" {
			if rerr := s.r.b.be.RemoveContainer(context.WithoutCancel(ctx), ctrID); rerr != nil {
				s.r.b.logger.Warn("remove build container", "id", ctrID, "err", rerr)
			}
		}
		return err
	}
	if err != nil {
		return fail(err)
	}
	if code != 0 {
		return fail(&engine.ExitError{Cmd: strings.Join(cmd, " "), Code: code})
	}
	if err := s.commit(ctx, st, key, ctrID, createdBy, "RUN "+strings.Join(c.CmdLine, " ")); err != nil {
		return fail(err)
	}
	if o.Remove || o.ForceRemove {
		if err := s.r.b.be.RemoveContainer(context.WithoutCancel(ctx), ctrID); err != nil {
			return err
		}
		s.say("Removing intermediate container %s\n", ctrID[:12])
	}
	return nil
}

// runCommandLine is the RUN's argv. A RUN that is only a heredoc runs the
// heredoc as the script; other heredocs are handed to the shell as written.
func runCommandLine(st *state, c *instructions.RunCommand) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	line := strings.Join(c.CmdLine, " ")
	if len(c.Files) == 1 {
		f := c.Files[0]
		if t := strings.TrimSpace(line); t == "<<"+f.Name || t == "<<-"+f.Name ||
			t == "<<\""+f.Name+"\"" || t == "<<'"+f.Name+"'" {
			return append(defaultShell(st.cfg), f.Data)
		}
	}
	if len(c.Files) > 0 {
		var b strings.Builder
		b.WriteString(line)
		for _, f := range c.Files {
			b.WriteString("\n")
			b.WriteString(f.Data)
			if !strings.HasSuffix(f.Data, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(f.Name)
		}
		line = b.String()
	}
	return append(defaultShell(st.cfg), line)
}

// argsEnv lists the stage's ARGs (and proxy args passed in) as the RUN's
// history and cache key record them, sorted.
func (s *stageRun) argsEnv(st *state) []string {
	var out []string
	for k, v := range st.args {
		out = append(out, k+"="+v)
		s.r.markUsed(k)
	}
	sort.Strings(out)
	return out
}

func mountKeys(ms []*instructions.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%v|%s", m.Type, m.From, m.Source, m.Target, m.ReadOnly, m.CacheID))
	}
	return out
}

// runMounts turns RUN --mount flags into container mounts.
func (s *stageRun) runMounts(ctx context.Context, st *state, ms []*instructions.Mount, releases *[]func()) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range ms {
		target := m.Target
		if target == "" {
			return nil, errdefs.Invalidf("RUN --mount: target is required")
		}
		if !path.IsAbs(target) {
			target = path.Join(orRoot(st.cfg.WorkingDir), target)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			dir, err := s.r.b.cacheMountDir(m, target)
			if err != nil {
				return nil, err
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: dir, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeTmpfs:
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: target,
				TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.SizeLimit}})
		case instructions.MountTypeBind:
			root := s.r.ctxDir
			if m.From == "" {
				if err := s.r.deferred.materialize(); err != nil {
					return nil, err
				}
			}
			if m.From != "" {
				img, err := s.image(ctx, m.From)
				if err != nil {
					return nil, fmt.Errorf("RUN --mount from=%s: %w", m.From, err)
				}
				dir, release, err := s.r.b.mountImage(ctx, img)
				if err != nil {
					return nil, err
				}
				*releases = append(*releases, release)
				root = dir
			}
			src, err := archive.HostPath(root, "/"+m.Source)
			if err != nil {
				return nil, errdefs.Invalidf("RUN --mount=type=bind: source %q: %v", m.Source, err)
			}
			if !m.ReadOnly {
				// A writable bind gets a copy: what the RUN writes there is discarded.
				cp, err := os.MkdirTemp(filepath.Join(s.r.b.root, "tmp"), "bind-")
				if err != nil {
					return nil, err
				}
				*releases = append(*releases, func() { os.RemoveAll(cp) })
				if out, err := exec.CommandContext(ctx, "cp", "-a", src, filepath.Join(cp, "src")).CombinedOutput(); err != nil {
					return nil, fmt.Errorf("RUN --mount=type=bind,rw: %v: %s", err, out)
				}
				src = filepath.Join(cp, "src")
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		default:
			return nil, errdefs.Invalidf("RUN --mount=type=%s is not supported by berth's builder", m.Type)
		}
	}
	return out, nil
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// cacheMountDir is the persistent directory of a RUN --mount=type=cache,
// keyed by its id (the target when none is given).
func (b *Builder) cacheMountDir(m *instructions.Mount, target string) (string, error) {
	id := m.CacheID
	if id == "" {
		id = target
	}
	sum := sha256.Sum256([]byte(id))
	dir := filepath.Join(b.root, "mounts", hex.EncodeToString(sum[:16]))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache mount: %w", err)
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, mode)
}

// mountImage mounts img's filesystem on a scratch layer for reading.
func (b *Builder) mountImage(ctx context.Context, img *image.Image) (string, func(), error) {
	id := "build-" + randomID()[:24]
	if err := b.store.CreateRW(ctx, id, img); err != nil {
		return "", nil, err
	}
	dir, err := b.store.Mount(ctx, id)
	if err != nil {
		b.store.RemoveRW(context.WithoutCancel(ctx), id)
		return "", nil, err
	}
	return dir, func() {
		if err := b.store.RemoveRW(context.WithoutCancel(ctx), id); err != nil {
			b.logger.Warn("remove build mount", "id", id, "err", err)
		}
	}, nil
}

// streamWriter sends RUN output to the build stream.
type streamWriter struct{ s *stageRun }

func (w streamWriter) Write(p []byte) (int, error) {
	if err := w.s.out.Stream(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
