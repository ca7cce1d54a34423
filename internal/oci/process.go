package oci

import (
	"context"
	"path"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultPathEnv is Docker's PATH when the image sets none.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WithProcess sets argv, environment, working directory, user and terminal.
func WithProcess(_ context.Context, s *specs.Spec, in *Input) error {
	if len(in.Args) == 0 {
		return errdefs.Invalidf("No command specified")
	}
	cfg, hc := in.Config, in.HostConfig
	u, err := resolveUser(in.Rootfs, cfg.User, hc.GroupAdd)
	if err != nil {
		return err
	}
	cwd, err := workingDir(cfg.WorkingDir)
	if err != nil {
		return err
	}
	p := s.Process
	p.Args = append([]string(nil), in.Args...)
	p.Cwd = cwd
	p.Terminal = cfg.Tty
	p.Env = withHome(Env(cfg.Hostname, cfg.Tty, cfg.Env), u.home)
	p.User = specs.User{UID: u.uid, GID: u.gid, AdditionalGids: withPrimaryGid(u.gid, u.sgids), Umask: hc.Umask}
	if cfg.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	return nil
}

func workingDir(wd string) (string, error) {
	if wd == "" {
		return "/", nil
	}
	if !path.IsAbs(wd) {
		return "", errdefs.Invalidf("the working directory '%s' is invalid, it needs to be an absolute path", wd)
	}
	return path.Clean(wd), nil
}

// Env builds the environment like Docker: PATH, HOSTNAME and (with a tty)
// TERM first, then the container's variables replacing those keys in place
// or appended.
func Env(hostname string, tty bool, env []string) []string {
	out := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + hostname}
	if tty {
		out = append(out, "TERM=xterm")
	}
	return replaceOrAppend(out, env)
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func replaceOrAppend(base, more []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range more {
		if !strings.Contains(kv, "=") {
			// "FOO" without a value unsets FOO, as in Docker.
			out = removeKey(out, kv)
			continue
		}
		k, replaced := envKey(kv), false
		for i := range out {
			if envKey(out[i]) == k {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func removeKey(env []string, k string) []string {
	out := env[:0]
	for _, kv := range env {
		if envKey(kv) != k {
			out = append(out, kv)
		}
	}
	return out
}

func withHome(env []string, home string) []string {
	for _, kv := range env {
		if envKey(kv) == "HOME" {
			return env
		}
	}
	return append(env, "HOME="+home)
}

// ExecProcess builds the process for `docker exec`: the container's
// process settings (capabilities, seccomp, rlimits, no-new-privileges) with
// the exec's argv, tty, working directory and user; req.Env is appended to
// the container's environment. A privileged exec gets every capability.
func ExecProcess(ctx context.Context, in *Input, req *container.ExecCreateRequest) (*specs.Process, error) {
	if req == nil || len(req.Cmd) == 0 {
		return nil, errdefs.Invalidf("No exec command specified")
	}
	ein := *in
	cfg := *in.Config
	ein.Config = &cfg
	ein.Args = req.Cmd
	cfg.Tty = req.Tty
	if req.User != "" {
		cfg.User = req.User
	}
	if req.WorkingDir != "" {
		cfg.WorkingDir = req.WorkingDir
	}
	cfg.Env = append(append([]string(nil), in.Config.Env...), req.Env...)
	s, err := Generate(ctx, &ein)
	if err != nil {
		return nil, err
	}
	if req.Privileged {
		s.Process.Capabilities = capSet(hostCapabilities())
	}
	s.Process.ConsoleSize = nil
	if req.Tty && req.ConsoleSize != nil && req.ConsoleSize[0] > 0 && req.ConsoleSize[1] > 0 {
		s.Process.ConsoleSize = &specs.Box{Height: req.ConsoleSize[0], Width: req.ConsoleSize[1]}
	}
	return s.Process, nil
}
