// Package system is `berth system` (df, info, events, prune) and the
// top-level `version`, `info` and `events`: docker CLI 28's output over
// internal/client's typed system calls. Each command is a cobra
// definition over an options struct and a function taking the client,
// the options and writers, testable without cobra.
package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	buildercmd "github.com/berth-project/berth/internal/cli/builder"
	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	imagecmd "github.com/berth-project/berth/internal/cli/image"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/spf13/cobra"
)

// NewCommand is `berth system`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("system", "Manage Docker", Commands(e)...)
}

// Commands are the group's subcommands; info and events are also offered
// at the top level.
func Commands(e *command.Env) []*cobra.Command {
	return []*cobra.Command{newDfCmd(e), NewInfoCommand(e), NewEventsCommand(e), newPruneCmd(e)}
}

// buildVersion is the module version and VCS data stamped by the Go toolchain.
func buildVersion() (version, commit, built string) {
	version, commit, built = "dev", "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = command.TruncateRunes(s.Value, 7)
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				built = t.Format(time.ANSIC)
			}
		}
	}
	return
}

// NewVersionCommand is `berth version`.
func NewVersionCommand(e *command.Env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker version information",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Version(cmd.Context(), c, format, e.Out)
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// Version prints the client's side and, when the daemon answers, the
// server's; a daemon that does not answer is the error, after the client's part.
func Version(ctx context.Context, c *client.Client, format string, out io.Writer) error {
	sv, srvErr := c.ServerVersion(ctx)
	if format != "" {
		v, commit, built := buildVersion()
		data := map[string]any{"Client": map[string]any{"Version": v, "ApiVersion": c.Version(),
			"DefaultAPIVersion": client.MaxAPIVersion, "GitCommit": commit, "GoVersion": runtime.Version(),
			"Os": runtime.GOOS, "Arch": runtime.GOARCH, "BuildTime": built, "Context": "default"}, "Server": sv}
		if err := command.ExecTemplate(out, format, data); err != nil {
			return err
		}
		return srvErr
	}
	printVersion(out, c.Version(), &sv, srvErr == nil)
	return srvErr
}

func printVersion(w io.Writer, api string, sv *system.VersionResponse, haveServer bool) {
	tw := tabwriter.NewWriter(w, 20, 1, 1, ' ', 0)
	v, commit, built := buildVersion()
	if api == "" {
		api = client.MaxAPIVersion
	}
	if api != client.MaxAPIVersion {
		api += " (downgraded from " + client.MaxAPIVersion + ")"
	}
	fmt.Fprintf(tw, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n Git commit:\t%s\n Built:\t%s\n OS/Arch:\t%s/%s\n Context:\tdefault\n",
		v, api, runtime.Version(), commit, built, runtime.GOOS, runtime.GOARCH)
	if !haveServer {
		_ = tw.Flush()
		return
	}
	name := "Server:"
	if sv.Platform.Name != "" {
		name = "Server: " + sv.Platform.Name
	}
	fmt.Fprintf(tw, "\n%s\n", name)
	for _, comp := range sv.Components {
		if comp.Name == "Engine" {
			d := comp.Details
			bt := d["BuildTime"]
			if t, err := time.Parse(time.RFC3339Nano, bt); err == nil {
				bt = t.Format(time.ANSIC)
			}
			fmt.Fprintf(tw, " Engine:\n  Version:\t%s\n  API version:\t%s (minimum version %s)\n  Go version:\t%s\n  Git commit:\t%s\n  Built:\t%s\n  OS/Arch:\t%s/%s\n  Experimental:\t%s\n",
				comp.Version, d["ApiVersion"], d["MinAPIVersion"], d["GoVersion"], d["GitCommit"], bt, d["Os"], d["Arch"], d["Experimental"])
			continue
		}
		fmt.Fprintf(tw, " %s:\n  Version:\t%s\n", comp.Name, comp.Version)
		keys := make([]string, 0, len(comp.Details))
		for k := range comp.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s:\t%s\n", k, comp.Details[k])
		}
	}
	_ = tw.Flush()
}

// NewInfoCommand is `berth info` (also `system info`).
func NewInfoCommand(e *command.Env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Info(cmd.Context(), c, format, e.Out, e.Err)
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// Info is `info`: docker's layout, the daemon's warnings on errOut; a
// template sees the daemon's JSON where the moby type lacks a field.
func Info(ctx context.Context, c *client.Client, format string, out, errOut io.Writer) error {
	info, raw, err := c.InfoWithRaw(ctx)
	if err != nil && (raw == nil || client.StatusOf(err) != 0) {
		return err
	}
	if format != "" {
		return command.ExecInspectTemplate(out, format, &info, raw)
	}
	printInfo(out, &info)
	for _, w := range info.Warnings {
		fmt.Fprintln(errOut, w)
	}
	return nil
}

// EventsOptions are `events`' flags.
type EventsOptions struct {
	Since, Until, Format string
	Filter               []string
}

// NewEventsCommand is `berth events` (also `system events`).
func NewEventsCommand(e *command.Env) *cobra.Command {
	var o EventsOptions
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Events(cmd.Context(), c, o, e.Out)
		}),
	}
	cmd.Flags().StringVar(&o.Since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&o.Until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&o.Filter, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// Events is `events`: the daemon's events until Until (or forever).
func Events(ctx context.Context, c *client.Client, o EventsOptions, out io.Writer) error {
	opts := client.EventsOptions{Filters: client.ParseFilters(o.Filter)}
	now := time.Now()
	for _, t := range []struct {
		v   string
		dst *string
	}{{o.Since, &opts.Since}, {o.Until, &opts.Until}} {
		if t.v == "" {
			continue
		}
		ts, err := command.ParseTimestamp(t.v, now)
		if err != nil {
			return err
		}
		*t.dst = ts
	}
	rc, err := c.Events(ctx, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return PrintEvents(out, rc, o.Format)
}

// PrintEvents renders each event as docker's one-line summary or a template.
func PrintEvents(w io.Writer, r io.Reader, format string) error {
	if format == "json" {
		format = "{{json .}}"
	}
	dec := json.NewDecoder(r)
	for {
		var ev events.Message
		if err := dec.Decode(&ev); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if format != "" {
			if err := command.ExecTemplate(w, format, ev); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(w, eventLine(ev))
	}
}

func eventLine(ev events.Message) string {
	t := time.Unix(0, ev.TimeNano)
	if ev.TimeNano == 0 {
		t = time.Unix(ev.Time, 0)
	}
	s := fmt.Sprintf("%s %s %s %s", t.Format("2006-01-02T15:04:05.000000000Z07:00"), ev.Type, ev.Action, ev.Actor.ID)
	var attrs []string
	for k, v := range ev.Actor.Attributes {
		attrs = append(attrs, k+"="+v)
	}
	sort.Strings(attrs)
	if len(attrs) > 0 {
		s += " (" + strings.Join(attrs, ", ") + ")"
	}
	return s
}

// PruneOptions are `system prune`'s flags.
type PruneOptions struct {
	All    bool
	Filter []string
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var o PruneOptions
	var f command.PruneFlags
	cmd := command.NewPruneCommand(e, &f, command.PruneCommand{
		Short:         "Remove unused data",
		FilterExample: "label=<key>=<value>",
		Warning: func() string {
			images := "all dangling images"
			if o.All {
				images = "all images without at least one container associated to them"
			}
			return "WARNING! This will remove:\n  - all stopped containers\n  - " + images + "\n  - unused build cache\n"
		},
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			o.Filter = f.Filter
			return Prune(ctx, c, o, out)
		},
	})
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused images not just dangling ones")
	return cmd
}

// Prune is `system prune` once confirmed: stopped containers, then
// images, then build cache, each listed as its own prune lists it; it
// returns the bytes reclaimed in all.
func Prune(ctx context.Context, c *client.Client, o PruneOptions, out io.Writer) (int64, error) {
	n1, err := containercmd.Prune(ctx, c, out, client.ParseFilters(o.Filter))
	if err != nil {
		return 0, err
	}
	n2, err := imagecmd.Prune(ctx, c, o.All, o.Filter, out)
	if err != nil {
		return 0, err
	}
	n3, err := buildercmd.Prune(ctx, c, o.All, "", o.Filter, out)
	if err != nil {
		return 0, err
	}
	return n1 + n2 + n3, nil
}
