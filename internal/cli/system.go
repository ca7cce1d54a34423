package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func systemCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newDfCmd(a), newInfoCmd(a), newEventsCmd(a), newSystemPruneCmd(a)}
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
			commit = truncateRunes(s.Value, 7)
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				built = t.Format(time.ANSIC)
			}
		}
	}
	return
}

func newVersionCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			sv, srvErr := c.ServerVersion(cmd.Context())
			if format != "" {
				v, commit, built := buildVersion()
				data := map[string]any{"Client": map[string]any{"Version": v, "ApiVersion": c.Version(),
					"DefaultAPIVersion": client.MaxAPIVersion, "GitCommit": commit, "GoVersion": runtime.Version(),
					"Os": runtime.GOOS, "Arch": runtime.GOARCH, "BuildTime": built, "Context": "default"}, "Server": sv}
				if err := execTemplate(a.Out, format, data); err != nil {
					return err
				}
				return srvErr
			}
			a.printVersion(c, &sv, srvErr == nil)
			return srvErr
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func (a *app) printVersion(c *client.Client, sv *system.VersionResponse, haveServer bool) {
	tw := tabwriter.NewWriter(a.Out, 20, 1, 1, ' ', 0)
	v, commit, built := buildVersion()
	api := c.Version()
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

func newInfoCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.Get(cmd.Context(), "/info", nil, &raw); err != nil {
				return err
			}
			var info system.Info
			_ = json.Unmarshal(raw, &info)
			if format != "" {
				return execInspectTemplate(a.Out, format, &info, raw)
			}
			printInfo(a.Out, &info)
			for _, w := range info.Warnings {
				fmt.Fprintln(a.Err, w)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newEventsCmd(a *app) *cobra.Command {
	var sinceF, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := filterQuery(filters)
			now := time.Now()
			for k, v := range map[string]string{"since": sinceF, "until": until} {
				if v == "" {
					continue
				}
				ts, err := parseTimestamp(v, now)
				if err != nil {
					return err
				}
				q.Set(k, ts)
			}
			resp, err := c.Do(cmd.Context(), client.Request{Method: http.MethodGet, Path: "/events", Query: q})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return printEvents(a.Out, resp.Body, format)
		},
	}
	cmd.Flags().StringVar(&sinceF, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// printEvents renders each event as docker's one-line summary or a template.
func printEvents(w io.Writer, r io.Reader, format string) error {
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
			if err := execTemplate(w, format, ev); err != nil {
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

func newSystemPruneCmd(a *app) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			images := "all dangling images"
			if all {
				images = "all images without at least one container associated to them"
			}
			warning := "WARNING! This will remove:\n  - all stopped containers\n  - " + images + "\n  - unused build cache\n"
			if !force && !a.confirm(warning) {
				return nil
			}
			n1, err := a.pruneContainers(cmd.Context(), filters)
			if err != nil {
				return err
			}
			n2, err := a.pruneImages(cmd.Context(), all, filters)
			if err != nil {
				return err
			}
			n3, err := a.pruneBuildCache(cmd.Context(), all, "", filters)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, "Total reclaimed space:", humanSize(n1+n2+n3))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<key>=<value>\")")
	return cmd
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
