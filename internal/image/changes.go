package image

import (
	"fmt"
	"path"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/docker/go-connections/nat"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/signal"
)

// validChanges are the Dockerfile instructions `import -c`/`commit -c`
// accept: dockerd 28's list (SHELL is not one of them).
var validChanges = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"onbuild": true, "user": true, "volume": true, "workdir": true,
	"stopsignal": true, "healthcheck": true,
}

// applyChanges applies Dockerfile-style change lines to cfg as dockerd's
// classic builder dispatches them for a commit or an import: the lines
// form one Dockerfile, every instruction is checked before any applies,
// words are expanded with the config's environment as it stands at each
// step, a relative WORKDIR is joined to the current one, and an ENTRYPOINT
// drops the CMD unless a CMD came before it. Errors are dockerd's words.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	if len(changes) == 0 {
		return nil
	}
	res, err := parser.Parse(strings.NewReader(strings.Join(changes, "\n")))
	if err != nil {
		return errdefs.Invalid(err) // blank changes too: "file with no instructions"
	}
	for _, node := range res.AST.Children {
		if !validChanges[strings.ToLower(node.Value)] {
			return errdefs.Invalidf("%s is not a valid change command", node.Value)
		}
	}
	cmds := make([]instructions.Command, 0, len(res.AST.Children))
	for _, node := range res.AST.Children {
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return errdefs.Invalid(err)
		}
		cmds = append(cmds, cmd)
	}
	lex := shell.NewLex(res.EscapeToken)
	cmdSet := false
	for _, cmd := range cmds {
		env := shell.EnvsFromSlice(cfg.Env)
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) {
				out, _, err := lex.ProcessWord(word, env)
				return out, err
			})
			if err != nil {
				return errdefs.Invalid(err)
			}
		}
		switch c := cmd.(type) {
		case *instructions.CmdCommand:
			cmdSet = cmdSet || len(c.CmdLine) != 0
		case *instructions.EntrypointCommand:
			if !cmdSet {
				cfg.Cmd = nil
			}
		case *instructions.WorkdirCommand:
			c.Path = path.Clean(c.Path)
			if !path.IsAbs(c.Path) {
				c.Path = path.Join("/", cfg.WorkingDir, c.Path)
			}
		case *instructions.ExposeCommand:
			// The one instruction whose word may expand to several.
			var ports []string
			for _, p := range c.Ports {
				ps, err := lex.ProcessWords(p, env)
				if err != nil {
					return errdefs.Invalid(err)
				}
				ports = append(ports, ps...)
			}
			c.Ports = ports
		}
		if err := ApplyInstruction(cfg, cmd); err != nil {
			return err
		}
	}
	return nil
}

// shellForm wraps a shell-form command line in the image's shell (the
// shell alone for an empty one, as dockerd).
func shellForm(cfg *dockerspec.DockerOCIImageConfig, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	if len(c.CmdLine) == 0 {
		return append([]string(nil), sh...)
	}
	return append(append([]string(nil), sh...), strings.Join(c.CmdLine, " "))
}

// ApplyInstruction applies one parsed metadata instruction (CMD, ENV,
// LABEL, ...) to cfg, as a Dockerfile step or a commit/import change does;
// its words are expanded already, and what an instruction does to others
// (ENTRYPOINT to CMD, WORKDIR relative to the last) is the caller's.
// EXPOSE, VOLUME and STOPSIGNAL are checked as dockerd checks them.
func ApplyInstruction(cfg *dockerspec.DockerOCIImageConfig, cmd any) error {
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(cfg, c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg, c.ShellDependantCmdLine)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ExposeCommand:
		// A range is one port per number, as dockerd's parser makes it.
		ports, _, err := nat.ParsePortSpecs(c.Ports)
		if err != nil {
			return errdefs.Invalid(err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for p := range ports {
			cfg.ExposedPorts[string(p)] = struct{}{}
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
			if v == "" {
				return errdefs.Invalidf("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = c.Path
	case *instructions.StopSignalCommand:
		if _, err := signal.ParseSignal(c.Signal); err != nil {
			return errdefs.Invalid(err)
		}
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
