// Package command is what every berth command group shares: the standard
// streams, the daemon client, docker's exit statuses and its wording for
// bad arguments. Groups that live in packages of their own
// (internal/cli/<group>/) import it instead of internal/cli, export
// NewCommand(*Env) *cobra.Command, and are registered in internal/cli's
// root (groupPackages). Each command there is a thin cobra definition over
// an options struct and a function taking (ctx, client, opts, writers),
// so its logic is tested without cobra.
package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// Streams are the process's standard streams; tests substitute buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// StatusError carries an exit code; Status "" means print nothing more.
type StatusError struct {
	Status string
	Code   int
}

func (e *StatusError) Error() string { return e.Status }

// Env is what a command runs with: the streams and the daemon client,
// dialled on first use (so --help needs no daemon).
type Env struct {
	Streams
	dial func() (*client.Client, error)
	cli  *client.Client
}

// NewEnv returns an Env whose client comes from dial.
func NewEnv(s Streams, dial func() (*client.Client, error)) *Env {
	return &Env{Streams: s, dial: dial}
}

// Client returns the daemon client, dialling it the first time.
func (e *Env) Client() (*client.Client, error) {
	if e.cli != nil {
		return e.cli, nil
	}
	c, err := e.dial()
	if err != nil {
		return nil, err
	}
	e.cli = c
	return c, nil
}

// WithClient is a RunE body that gets the daemon client first.
func (e *Env) WithClient(fn func(cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		return fn(cmd, c, args)
	}
}

// Confirm asks docker's "Are you sure" question on In.
func (e *Env) Confirm(warning string) bool {
	fmt.Fprintf(e.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	if e.In == nil {
		return false
	}
	line, _ := bufio.NewReader(e.In).ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes"
}

// Group is a command group ("berth volume"): without a subcommand it
// prints its help, and an unknown one gets docker's words.
func Group(name, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  UnknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	g.AddCommand(subs...)
	return g
}

// UnknownCommand rejects a command name that is not one of ours, in docker's words.
func UnknownCommand(cmd *cobra.Command, args []string) error {
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

// FlagError reproduces docker's flag error text and its exit status 125.
func FlagError(cmd *cobra.Command, err error) error {
	return &StatusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, usageLine(cmd), cmd.CommandPath()),
		Code:   125,
	}
}

// UsageError is docker's wording for a wrong argument count (exit 1); verb
// is "See" or "Run" as docker has it for each kind of check.
func UsageError(cmd *cobra.Command, msg, verb string) error {
	return &StatusError{Status: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), msg, usageLine(cmd), verb, cmd.CommandPath())}
}

// NoArgs accepts no positional arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return UsageError(cmd, "accepts no arguments", "Run")
}

// ExactArgs accepts exactly n positional arguments.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return UsageError(cmd, fmt.Sprintf("requires %d %s", n, plural(n, "argument")), "Run")
	}
}

// MinArgs accepts n or more positional arguments.
func MinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return UsageError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n, "argument")), "See")
	}
}

// MaxArgs accepts at most n positional arguments.
func MaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return UsageError(cmd, fmt.Sprintf("requires at most %d %s", n, plural(n, "argument")), "See")
	}
}

// RangeArgs accepts lo to hi positional arguments.
func RangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		if lo == 0 {
			return UsageError(cmd, fmt.Sprintf("requires at most %d %s", hi, plural(hi, "argument")), "Run")
		}
		return UsageError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", lo, hi, plural(hi, "argument")), "Run")
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// FormatHelp is docker's help for a listing's --format.
const FormatHelp = "Format output using a custom template:\n" +
	"'table':            Print output in table format with column headers (default)\n" +
	"'table TEMPLATE':   Print output in table format using the given Go template\n" +
	"'json':             Print in JSON format\n" +
	"'TEMPLATE':         Print output using the given Go template.\n" +
	"Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"

// InspectFormatHelp is docker's help for an inspect command's --format.
const InspectFormatHelp = "Format output using a custom template:\n" +
	"'json':             Print in JSON format\n" +
	"'TEMPLATE':         Print output using the given Go template.\n" +
	"Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"

// RemoveEach runs rm on every name, printing the name of each one done
// and answering the errors of the others joined, as docker's rm commands.
func RemoveEach(out io.Writer, names []string, rm func(string) error) error {
	var errs []error
	for _, n := range names {
		if err := rm(n); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, n)
	}
	return errors.Join(errs...)
}

// ListFlags are a listing's -q, --format and -f/--filter.
type ListFlags struct {
	Quiet  bool
	Format string
	Filter []string
}

// ListCommand is an "ls [OPTIONS]" command (alias "list") with docker's
// listing flags; run gets them parsed.
func ListCommand(short string, run func(cmd *cobra.Command, f ListFlags) error) *cobra.Command {
	var f ListFlags
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   short,
		Args:    NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return run(cmd, f) },
	}
	cmd.Flags().BoolVarP(&f.Quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&f.Format, "format", "", FormatHelp)
	cmd.Flags().StringArrayVarP(&f.Filter, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// ForEach runs fn on every name, printing the name of each one done on out
// and each error on errOut, like docker's multi-object commands (stop, rm,
// network rm...); it fails with exit 1, saying nothing more, if any did.
func ForEach(ctx context.Context, out, errOut io.Writer, names []string, fn func(context.Context, string) error) error {
	failed := false
	for _, n := range names {
		if err := fn(ctx, n); err != nil {
			fmt.Fprintln(errOut, err)
			failed = true
			continue
		}
		fmt.Fprintln(out, n)
	}
	if failed {
		return &StatusError{Code: 1}
	}
	return nil
}

// IsTerminal reports whether v is an *os.File on a terminal.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// SplitRepoTag splits "repo:tag" (a port in the registry host is not a tag).
func SplitRepoTag(ref string) (string, string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// NormalizeRef adds ":latest" when the reference has neither tag nor digest.
func NormalizeRef(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref
	}
	return ref + ":latest"
}
