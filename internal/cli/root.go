// Package cli implements the berth command line, a Docker Engine API client
// that behaves like docker CLI 28 for the commands it has.
package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	buildercmd "github.com/berth-project/berth/internal/cli/builder"
	clustercmd "github.com/berth-project/berth/internal/cli/cluster"
	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	imagecmd "github.com/berth-project/berth/internal/cli/image"
	networkcmd "github.com/berth-project/berth/internal/cli/network"
	nodecmd "github.com/berth-project/berth/internal/cli/node"
	registrycmd "github.com/berth-project/berth/internal/cli/registry"
	secretcmd "github.com/berth-project/berth/internal/cli/secret"
	servicecmd "github.com/berth-project/berth/internal/cli/service"
	stackcmd "github.com/berth-project/berth/internal/cli/stack"
	swarmcmd "github.com/berth-project/berth/internal/cli/swarm"
	systemcmd "github.com/berth-project/berth/internal/cli/system"
	volumecmd "github.com/berth-project/berth/internal/cli/volume"
	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// StatusError carries an exit code; Status "" means print nothing more.
type StatusError = command.StatusError

// Streams are the process's standard streams; tests substitute buffers.
type Streams = command.Streams

// app is what every command of this package runs with (command.Env) and
// the -H given before the command name.
type app struct {
	*command.Env
	host string
}

func newApp(s Streams, host string) *app {
	a := &app{host: host}
	a.Env = command.NewEnv(s, func() (*client.Client, error) { return client.New(client.ResolveHost(a.host)) })
	return a
}

func (a *app) client() (*client.Client, error) { return a.Client() }

func (a *app) confirm(warning string) bool { return a.Confirm(warning) }

// groupPackages are the command groups kept in packages of their own,
// internal/cli/<group>/, each built over the shared command.Env. A new
// group is added here.
var groupPackages = []func(*command.Env) *cobra.Command{
	volumecmd.NewCommand, networkcmd.NewCommand,
	registrycmd.NewLoginCommand, registrycmd.NewLogoutCommand, registrycmd.NewSearchCommand,
	buildercmd.NewCommand, buildercmd.NewBuildCommand, systemcmd.NewVersionCommand,
	clustercmd.NewCommand, clustercmd.NewKubectlCommand,
	swarmcmd.NewCommand, servicecmd.NewCommand, nodecmd.NewCommand,
	secretcmd.NewCommand, secretcmd.NewConfigCommand,
}

// Argument checks and docker's wording, shared with the group packages.
var (
	noArgs         = command.NoArgs
	exactArgs      = command.ExactArgs
	minArgs        = command.MinArgs
	maxArgs        = command.MaxArgs
	rangeArgs      = command.RangeArgs
	usageError     = command.UsageError
	flagError      = command.FlagError
	unknownCommand = command.UnknownCommand
)

func groupCommand(name, short string, subs []*cobra.Command) *cobra.Command {
	return command.Group(name, short, subs...)
}

// Main runs bin/berth with args (without the program name) and returns the
// exit code; the plugin's commands run in ComposePlugin.
func Main(ctx context.Context, args []string, s Streams) int {
	return MainWith(ctx, args, s, Plugins{})
}

// MainWith is Main with the plugin's commands given (ComposePlugin's main).
func MainWith(ctx context.Context, args []string, s Streams, p Plugins) int {
	host, args := globalHost(args)
	a := newApp(s, host)
	if p.Args != nil {
		args = p.Args(args)
	}
	root := shortcutRoot(a, args)
	if root == nil {
		root = newRoot(a, p)
	}
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var se *StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(s.Err, se.Status)
		}
		if se.Code == 0 {
			return 1
		}
		return se.Code
	}
	fmt.Fprintln(s.Err, err)
	return 1
}

// globalHost takes -H/--host from the options before the command name, as
// docker's global flags are parsed.
func globalHost(args []string) (string, []string) {
	host := ""
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return host, append(rest, args[i:]...)
		}
		switch {
		case (arg == "-H" || arg == "--host") && i+1 < len(args):
			host = args[i+1]
			i++
		case strings.HasPrefix(arg, "--host="):
			host = strings.TrimPrefix(arg, "--host=")
		case strings.HasPrefix(arg, "-H"):
			host = strings.TrimPrefix(strings.TrimPrefix(arg, "-H"), "=")
		default:
			rest = append(rest, arg)
		}
	}
	return host, rest
}

// bareRoot is the root command without its subcommands.
func bareRoot() *cobra.Command {
	root := &cobra.Command{
		Use:               "berth [OPTIONS] COMMAND [ARG...]",
		Short:             "A self-sufficient runtime for containers",
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           "dev",
		DisableAutoGenTag: true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:              unknownCommand,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	// -H is taken before the command name (see globalHost); declaring it here
	// documents it. It cannot be persistent: `history -H` means --human.
	root.Flags().StringP("host", "H", "", "Daemon socket to connect to")
	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate("Berth version {{.Version}}\n")
	return root
}

// shortcutRoot is a root holding only the container shortcut args name
// (`ps`, `run`, `exec`...), or nil when args name none: the whole tree
// is ~1500 flags, and building it was a fifth of `berth ps`'s start-up.
// Everything else (help, groups, errors for unknown names) gets the whole
// tree; a shortcut behaves the same in either, its root's name included.
func shortcutRoot(a *app, args []string) *cobra.Command {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil
	}
	for _, n := range containercmd.Catalogue() {
		switch {
		case n.Name == "prune" || n.Name == "inspect": // not shortcuts
			continue
		case n.Name == "ls":
			if args[0] != "ps" {
				continue
			}
		case args[0] != n.Name && !slices.Contains(n.Aliases, args[0]):
			continue
		}
		root := bareRoot()
		c := n.New(a.containerEnv())
		if n.Name == "ls" {
			c = withName(c, "ps", nil)
		}
		root.AddCommand(c)
		return root
	}
	return nil
}

func newRoot(a *app, p Plugins) *cobra.Command {
	root := bareRoot()
	containerCmds := containerCommands(a)
	imageCmds := imagecmd.Commands(a.Env)

	// Top-level shortcuts, like docker's "docker ps" for "docker container ls".
	for _, c := range containerCmds {
		if c.Name() == "ls" {
			root.AddCommand(withName(c, "ps", nil))
			continue
		}
		if c.Name() != "prune" && c.Name() != "inspect" {
			root.AddCommand(c)
		}
	}
	root.AddCommand(groupCommand("container", "Manage containers", containerCommands(a)))
	root.AddCommand(imagecmd.NewCommand(a.Env, buildercmd.NewBuildCommand(a.Env)))
	root.AddCommand(systemcmd.NewCommand(a.Env))
	for _, c := range imageCmds {
		switch c.Name() {
		case "ls":
			root.AddCommand(withName(c, "images", nil))
		case "rm":
			root.AddCommand(withName(c, "rmi", nil))
		case "history", "tag", "import", "load", "save", "pull", "push":
			root.AddCommand(c)
		}
	}
	root.AddCommand(systemcmd.NewInfoCommand(a.Env), systemcmd.NewEventsCommand(a.Env))
	root.AddCommand(newInspectCmd(a))
	if p.builtIn() {
		root.AddCommand(p.Compose(a.Env), newDocsCmd(root))
		root.AddCommand(stackcmd.NewCommand(a.Env, p.StackDeploy(a.Env)))
	} else {
		root.AddCommand(a.pluginStub("compose [OPTIONS] COMMAND", "Define and run multi-container applications", nil, false, "compose"))
		root.AddCommand(a.pluginStub("docs DIR", "Generate the markdown command reference", nil, true, "docs"))
		root.AddCommand(stackcmd.NewCommand(a.Env, a.pluginStub("deploy [OPTIONS] STACK",
			"Deploy a new stack or update an existing stack", []string{"up"}, false, "stack", "deploy")))
	}
	for _, g := range groupPackages {
		root.AddCommand(g(a.Env))
	}
	return root
}

// withName renames a command used at the top level ("images" for "image ls").
func withName(c *cobra.Command, name string, aliases []string) *cobra.Command {
	_, rest, _ := strings.Cut(c.Use, " ")
	c.Use = strings.TrimSpace(name + " " + rest)
	c.Aliases = aliases
	return c
}

// forEach runs fn on every name, printing each error on stderr like docker's
// multi-object commands, and fails with exit 1 if any did.
func forEach(ctx context.Context, a *app, names []string, fn func(context.Context, string) error) error {
	return command.ForEach(ctx, a.Out, a.Err, names, fn)
}

// newDocsCmd writes the markdown CLI reference (docs/cli-reference).
func newDocsCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "docs DIR",
		Short:  "Generate the markdown command reference",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return doc.GenMarkdownTree(root, args[0])
		},
	}
}
