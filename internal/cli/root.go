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

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:               "berth [OPTIONS] COMMAND [ARG...]",
		Short:             "A self-sufficient runtime for containers",
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           "dev",
		DisableAutoGenTag: true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.PersistentFlags().StringVarP(&a.host, "host", "H", "", "Daemon socket to connect to")
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
	root.AddCommand(groupCommand("image", "Manage images", imageCommands(a)))
	root.AddCommand(groupCommand("system", "Manage Docker", systemCommands(a)))
	for _, c := range imageCmds {
		switch c.Name() {
		case "ls":
			root.AddCommand(withName(c, "images", nil))
		case "rm":
			root.AddCommand(withName(c, "rmi", nil))
		case "history", "tag", "import", "load", "save":
			root.AddCommand(c)
		}
	}
	for _, c := range systemCmds {
		switch c.Name() {
		case "info":
			root.AddCommand(c)
		}
	}
	root.AddCommand(newInspectCmd(a), newVersionCmd(a), newDocsCmd(root))
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
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			return cmd.Help()
		},
	}
	g.AddCommand(subs...)
	return g
}

// flagError reproduces docker's flag error text and its exit status 125.
func flagError(cmd *cobra.Command, err error) error {
	return &StatusError{
		Status: fmt.Sprintf("%s\nSee '%s --help'.", err, cmd.CommandPath()),
		Code:   125,
	}
}

func usageError(cmd *cobra.Command, msg string) error {
	return &StatusError{Status: fmt.Sprintf("%q %s\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
		cmd.CommandPath(), msg, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError(cmd, "accepts no arguments.")
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires exactly %d %s.", n, plural(n, "argument")))
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires at least %d %s.", n, plural(n, "argument")))
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return usageError(cmd, fmt.Sprintf("requires at least %d and at most %d %s.", lo, hi, plural(hi, "argument")))
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
