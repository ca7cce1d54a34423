package cli

import (
	containercmd "github.com/berth-project/berth/internal/cli/container"
	imagecmd "github.com/berth-project/berth/internal/cli/image"
	"github.com/spf13/cobra"
)

// The container commands live in internal/cli/container; this is their wiring.

func (a *app) containerEnv() *containercmd.Env {
	return &containercmd.Env{Env: a.Env, Pull: imagecmd.PullMissing}
}

func containerCommands(a *app) []*cobra.Command { return containercmd.NewCommands(a.containerEnv()) }
