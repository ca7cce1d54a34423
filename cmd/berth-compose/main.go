// Command berth-compose runs the berth commands that read compose files,
// `berth compose ...` and `berth stack deploy`: bin/berth runs it with its
// own arguments (looked for next to bin/berth, then on PATH), so only these
// commands pay compose-go's start-up (~30 ms of package initialisation).
// It is berth's whole command tree with them built in: `berth-compose
// compose up -d` is `berth compose up -d`.
package main

import (
	"context"
	"os"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/compose"
	"github.com/berth-project/berth/internal/cli/stack/deploy"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], command.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

func run(ctx context.Context, args []string, s command.Streams) int {
	return cli.MainWith(ctx, args, s, cli.Plugins{Compose: compose.NewCommand, StackDeploy: deploy.NewCommand, Args: compose.Shorthands})
}
