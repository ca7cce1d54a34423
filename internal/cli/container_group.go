package cli

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// The container commands live in internal/cli/container; this is their
// wiring and what the commands still here (compose, system, df) use of them.

func (a *app) containerEnv() *containercmd.Env {
	return &containercmd.Env{Env: a.Env, Pull: pullForRun}
}

func containerCommands(a *app) []*cobra.Command { return containercmd.NewCommands(a.containerEnv()) }

// pruneContainers is system prune's container step.
func (a *app) pruneContainers(ctx context.Context, filters []string) (int64, error) {
	c, err := a.client()
	if err != nil {
		return 0, err
	}
	return containercmd.Prune(ctx, c, a.Out, client.ParseFilters(filters))
}

// pullForRun pulls the image run and create did not find, printing its
// progress statuses as docker run does.
func pullForRun(ctx context.Context, c *client.Client, ref string, progress io.Writer) error {
	ref = normalizeRef(ref)
	name, tag := splitRepoTag(ref)
	body, err := c.ImagePull(ctx, name, client.ImagePullOptions{Tag: tag, RegistryAuth: registryAuthHeader(ref)})
	if err != nil {
		return err
	}
	defer body.Close()
	return showProgress(body, progress)
}

var (
	displayPorts   = containercmd.DisplayPorts
	hostAddr       = containercmd.HostAddr
	joinLabels     = containercmd.JoinLabels
	parseTimestamp = command.ParseTimestamp
	normalizeRef   = command.NormalizeRef
)
