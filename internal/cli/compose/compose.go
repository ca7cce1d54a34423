package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/dockerconfig"
	core "github.com/berth-project/berth/internal/compose"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
)

// composeOpts are the flags every compose subcommand shares.
type composeOpts struct {
	e          *command.Env
	files      []string
	name       string
	workDir    string
	envFiles   []string
	profiles   []string
	ansi       string
	allEnabled bool
}

// NewCommand is `berth compose`, built into bin/berth-compose only (see
// cmd/berth-compose): linking compose-go costs every process ~30 ms of
// start-up (its JSON schema package), which only compose should pay.
func NewCommand(e *command.Env) *cobra.Command {
	o := &composeOpts{e: e}
	cmd := &cobra.Command{
		Use:   "compose [OPTIONS] COMMAND",
		Short: "Define and run multi-container applications",
		Args:  command.UnknownCommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringArrayVar(&o.files, "file", nil, "Compose configuration files (-f before the command)")
	pf.StringVar(&o.name, "project-name", "", "Project name (-p before the command)")
	pf.StringVar(&o.workDir, "project-directory", "", "Specify an alternate working directory (default: the path of the first specified Compose file)")
	pf.StringArrayVar(&o.envFiles, "env-file", nil, "Specify an alternate environment file")
	pf.StringArrayVar(&o.profiles, "profile", nil, "Specify a profile to enable")
	pf.StringVar(&o.ansi, "ansi", "auto", `Control when to print ANSI control characters ("never"|"always"|"auto")`)
	cmd.AddCommand(
		newComposeUpCmd(o), newComposeDownCmd(o), newComposeCreateCmd(o), newComposePsCmd(o),
		newComposeLogsCmd(o), newComposeConfigCmd(o), newComposeLsCmd(o), newComposeVersionCmd(o),
		newComposeStartCmd(o), newComposeActionCmd(o, "stop", "Stop services", "Stopped", true),
		newComposeActionCmd(o, "restart", "Restart service containers", "Restarted", false),
		newComposeKillCmd(o), newComposeActionCmd(o, "pause", "Pause services", "Paused", false),
		newComposeActionCmd(o, "unpause", "Unpause services", "Unpaused", false),
		newComposeRmCmd(o), newComposeScaleCmd(o), newComposeExecCmd(o), newComposeRunCmd(o),
		newComposeTopCmd(o), newComposePortCmd(o), newComposeImagesCmd(o), newComposePullCmd(o),
		newComposePushCmd(o), newComposeBuildCmd(o),
	)
	return cmd
}

// Shorthands rewrites compose's -f FILE and -p NAME, given before
// the compose subcommand, into --file= and --project-name=. They cannot be
// persistent shorthands: logs -f means --follow and run -p means --publish,
// as in docker compose.
func Shorthands(args []string) []string {
	if len(args) == 0 || args[0] != "compose" {
		return args
	}
	out := []string{args[0]}
	long := map[string]string{"-f": "--file=", "-p": "--project-name="}
	for i := 1; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return append(out, args[i:]...)
		}
		if l, ok := long[arg]; ok && i+1 < len(args) {
			out = append(out, l+args[i+1])
			i++
			continue
		}
		if l, ok := long[arg[:min(2, len(arg))]]; ok && len(arg) > 2 {
			out = append(out, l+strings.TrimPrefix(arg[2:], "="))
			continue
		}
		out = append(out, arg)
		if valueFlags[arg] && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

// valueFlags are compose's global flags that take the next argument.
var valueFlags = map[string]bool{"--file": true, "--project-name": true, "--project-directory": true,
	"--env-file": true, "--profile": true, "--ansi": true}

// load reads the project the flags name.
func (o *composeOpts) load(ctx context.Context) (*types.Project, error) {
	return core.Load(ctx, core.LoadOptions{Files: o.files, Name: o.name, WorkDir: o.workDir,
		EnvFiles: o.envFiles, Profiles: o.profiles, AllEnabled: o.allEnabled})
}

// project loads the project, or, when no compose file is found and -p names
// the project, returns just its name: down, ps, logs, stop and friends work
// on a project by its labels, as docker compose's do.
func (o *composeOpts) project(ctx context.Context) (*types.Project, string, error) {
	p, err := o.load(ctx)
	if err == nil {
		return p, p.Name, nil
	}
	if o.name != "" && len(o.files) == 0 && isNoConfig(err) {
		return nil, o.name, nil
	}
	return nil, "", err
}

func isNoConfig(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no configuration file provided")
}

// service returns a core.Service over the daemon's client.
func (o *composeOpts) service() (*core.Service, error) {
	c, err := o.e.Client()
	if err != nil {
		return nil, err
	}
	s := core.New(c, o.e.Err)
	s.RegistryAuth = dockerconfig.AuthHeader
	return s, nil
}

// projectService is what most subcommands start with: the project (or
// just its name) and a compose service on the daemon's client.
func (o *composeOpts) projectService(ctx context.Context) (*types.Project, string, *core.Service, error) {
	p, name, err := o.project(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	s, err := o.service()
	if err != nil {
		return nil, "", nil, err
	}
	return p, name, s, nil
}

// loadService is projectService for commands that need the compose file.
func (o *composeOpts) loadService(ctx context.Context) (*types.Project, *core.Service, error) {
	p, err := o.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := o.service()
	if err != nil {
		return nil, nil, err
	}
	return p, s, nil
}

// noColor decides whether log prefixes are coloured.
func (o *composeOpts) noColor(flag bool) bool {
	switch {
	case flag || o.ansi == "never" || os.Getenv("NO_COLOR") != "":
		return true
	case o.ansi == "always":
		return false
	}
	return !command.IsTerminal(o.e.Out)
}

func newComposeVersionCmd(o *composeOpts) *cobra.Command {
	var short bool
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker Compose version information",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case short:
				fmt.Fprintln(o.e.Out, core.ComposeVersion)
			case format == "json":
				fmt.Fprintf(o.e.Out, "{\"version\":\"v%s\"}\n", core.ComposeVersion)
			default:
				fmt.Fprintf(o.e.Out, "Berth Compose version v%s\n", core.ComposeVersion)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "Shows only Compose's version number")
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format the output. Values: [pretty | json]")
	return cmd
}

func newComposeConfigCmd(o *composeOpts) *cobra.Command {
	var services, volumes, networks, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "config [OPTIONS] [SERVICE...]",
		Aliases: []string{"convert"},
		Short:   "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) > 0 {
				if p, err = p.WithSelectedServices(args); err != nil {
					return err
				}
			}
			switch {
			case quiet:
				return nil
			case services:
				return printLines(o.e, p.ServiceNames())
			case volumes:
				return printLines(o.e, p.VolumeNames())
			case networks:
				return printLines(o.e, p.NetworkNames())
			}
			var b []byte
			if format == "json" {
				b, err = p.MarshalJSON()
			} else {
				b, err = p.MarshalYAML()
			}
			if err != nil {
				return err
			}
			_, err = o.e.Out.Write(b)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&services, "services", false, "Print the service names, one per line")
	f.BoolVar(&volumes, "volumes", false, "Print the volume names, one per line")
	f.BoolVar(&networks, "networks", false, "Print the network names, one per line")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	f.StringVar(&format, "format", "yaml", "Format the output. Values: [yaml | json]")
	return cmd
}

func printLines(e *command.Env, lines []string) error {
	for _, l := range lines {
		fmt.Fprintln(e.Out, l)
	}
	return nil
}

func newComposeLsCmd(o *composeOpts) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.service()
			if err != nil {
				return err
			}
			list, err := s.Projects(cmd.Context(), all)
			if err != nil {
				return err
			}
			if quiet {
				for _, p := range list {
					fmt.Fprintln(o.e.Out, p.Name)
				}
				return nil
			}
			if format == "json" {
				return writeComposeJSON(o.e, list)
			}
			tw := tabwriter.NewWriter(o.e.Out, 0, 0, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	cmd.Flags().StringVar(&format, "format", "table", "Format the output. Values: [table | json]")
	return cmd
}

// writeComposeJSON prints v as one line of JSON.
func writeComposeJSON(e *command.Env, v any) error {
	return json.NewEncoder(e.Out).Encode(v)
}
