package image

import (
	"fmt"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// validChanges are the Dockerfile instructions `import -c`/`commit -c`
// accept, as in Docker.
var validChanges = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"onbuild": true, "user": true, "volume": true, "workdir": true,
	"stopsignal": true, "healthcheck": true, "shell": true,
}

// applyChanges applies Dockerfile-style change lines to cfg.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, line := range changes {
		if strings.TrimSpace(line) == "" {
			continue
		}
		res, err := parser.Parse(strings.NewReader(line))
		if err != nil {
			return errdefs.Invalidf("dockerfile parse error: %v", err)
		}
		for _, node := range res.AST.Children {
			if !validChanges[strings.ToLower(node.Value)] {
				return errdefs.Invalidf("%s is not a valid change command", node.Value)
			}
			cmd, err := instructions.ParseInstruction(node)
			if err != nil {
				return errdefs.Invalid(err)
			}
			if err := ApplyInstruction(cfg, cmd); err != nil {
				return err
			}
		}
	}
	return nil
}

// shellForm wraps a shell-form command line in the image's shell.
func shellForm(cfg *dockerspec.DockerOCIImageConfig, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), strings.Join(c.CmdLine, " "))
}

// ApplyInstruction applies one parsed metadata instruction (CMD, ENV,
// LABEL, ...) to cfg, as a Dockerfile step or a commit/import change does.
func ApplyInstruction(cfg *dockerspec.DockerOCIImageConfig, cmd any) error {
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(cfg, c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg, c.ShellDependantCmdLine)
		cfg.Cmd = nil // a new entrypoint resets the inherited cmd, as in a build
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = c.Path
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.HealthCheckCommand:
		cfg.Healthcheck = c.Health
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
	default:
		return errdefs.Invalidf("%T is not a valid change command", cmd)
	}
	return nil
}

// setEnv replaces or appends KEY=value.
func setEnv(env []string, key, value string) []string {
	kv := fmt.Sprintf("%s=%s", key, value)
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
