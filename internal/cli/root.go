// Package cli implements the berth command line, a Docker Engine API client
// that behaves like docker CLI 28 for the commands it has.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// StatusError carries an exit code; Status "" means print nothing more.
type StatusError struct {
	Status string
	Code   int
}

func (e *StatusError) Error() string { return e.Status }

// Streams are the process's standard streams; tests substitute buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// app holds what every command needs: the streams and the daemon client.
type app struct {
	Streams
	host string
	cli  *client.Client
}

func (a *app) client() (*client.Client, error) {
	if a.cli != nil {
		return a.cli, nil
	}
	c, err := client.New(client.ResolveHost(a.host))
	if err != nil {
		return nil, err
	}
	a.cli = c
	return c, nil
}

// Main runs the CLI with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	a := &app{Streams: s}
	a.host, args = globalHost(args)
	args = composeShorthands(args)
	root := newRoot(a)
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

func newRoot(a *app) *cobra.Command {
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

	containerCmds := containerCommands(a)
	imageCmds := imageCommands(a)
	systemCmds := systemCommands(a)

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
	root.AddCommand(groupCommand("image", "Manage images", append(imageCommands(a), newBuildCmd(a))))
	root.AddCommand(groupCommand("system", "Manage Docker", systemCommands(a)))
	root.AddCommand(newVolumeCommand(a))
	root.AddCommand(newNetworkCommand(a))
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
	for _, c := range systemCmds {
		switch c.Name() {
		case "info", "events":
			root.AddCommand(c)
		}
	}
	root.AddCommand(newInspectCmd(a), newVersionCmd(a), newDocsCmd(root), newLoginCmd(a), newLogoutCmd(a), newBuildCmd(a))
	root.AddCommand(newSearchCmd(a))
	root.AddCommand(newBuilderCommand(a))
	root.AddCommand(newComposeCmd(a))
	return root
}

// withName renames a command used at the top level ("images" for "image ls").
func withName(c *cobra.Command, name string, aliases []string) *cobra.Command {
	_, rest, _ := strings.Cut(c.Use, " ")
	c.Use = strings.TrimSpace(name + " " + rest)
	c.Aliases = aliases
	return c
}

func groupCommand(name, short string, subs []*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	g.AddCommand(subs...)
	return g
}

// unknownCommand rejects a command name that is not one of ours, in docker's words.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	usage := ""
	if cmd.HasParent() {
		usage = "\n\nUsage:  " + cmd.CommandPath()
	}
	return &StatusError{Status: fmt.Sprintf("%s: unknown command: %s %s%s\n\nRun '%s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), args[0], usage, cmd.CommandPath())}
}

// usageLine is "berth stop [OPTIONS] CONTAINER [CONTAINER...]".
func usageLine(cmd *cobra.Command) string {
	line := cmd.Use
	if cmd.HasParent() {
		line = cmd.Parent().CommandPath() + " " + cmd.Use
	}
	return line
}

// flagError reproduces docker's flag error text and its exit status 125.
func flagError(cmd *cobra.Command, err error) error {
	return &StatusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, usageLine(cmd), cmd.CommandPath()),
		Code:   125,
	}
}

// usageError is docker's wording for a wrong argument count (exit 1); verb
// is "See" or "Run" as docker has it for each kind of check.
func usageError(cmd *cobra.Command, msg, verb string) error {
	return &StatusError{Status: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), msg, usageLine(cmd), verb, cmd.CommandPath())}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError(cmd, "accepts no arguments", "Run")
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires %d %s", n, plural(n, "argument")), "Run")
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n, "argument")), "See")
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		if lo == 0 {
			return usageError(cmd, fmt.Sprintf("requires at most %d %s", hi, plural(hi, "argument")), "Run")
		}
		return usageError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", lo, hi, plural(hi, "argument")), "Run")
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// forEach runs fn on every name, printing each error on stderr like docker's
// multi-object commands, and fails with exit 1 if any did.
func forEach(ctx context.Context, a *app, names []string, fn func(context.Context, string) error) error {
	failed := false
	for _, n := range names {
		if err := fn(ctx, n); err != nil {
			fmt.Fprintln(a.Err, err)
			failed = true
			continue
		}
		fmt.Fprintln(a.Out, n)
	}
	if failed {
		return &StatusError{Code: 1}
	}
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires at most %d %s", n, plural(n, "argument")), "See")
	}
}
