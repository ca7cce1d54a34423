package compose

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	core "github.com/berth-project/berth/internal/compose"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newComposePsCmd(o *composeOpts) *cobra.Command {
	var quiet, all, services bool
	var format string
	var status []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			list, err := s.Containers(cmd.Context(), name, args, all || len(status) > 0, all)
			if err != nil {
				return err
			}
			list = filterStatus(list, status)
			switch {
			case quiet:
				for _, c := range list {
					fmt.Fprintln(o.e.Out, c.ID)
				}
				return nil
			case services:
				seen := map[string]bool{}
				for _, c := range list {
					if sv := c.Labels[core.LabelService]; !seen[sv] {
						seen[sv] = true
						fmt.Fprintln(o.e.Out, sv)
					}
				}
				return nil
			case format == "json":
				for _, c := range list {
					if err := writeComposeJSON(o.e, psJSON(c)); err != nil {
						return err
					}
				}
				return nil
			}
			return renderComposePs(o.e, list)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	fs.BoolVarP(&all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	fs.BoolVar(&services, "services", false, "Display services")
	fs.StringVar(&format, "format", "table", "Format output using a custom template: 'table' or 'json'")
	fs.StringArrayVar(&status, "status", nil, "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	return cmd
}

func filterStatus(list []container.Summary, status []string) []container.Summary {
	if len(status) == 0 {
		return list
	}
	var out []container.Summary
	for _, c := range list {
		for _, s := range status {
			if string(c.State) == s {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func containerName(c container.Summary) string {
	for _, n := range c.Names {
		if strings.Count(n, "/") == 1 {
			return strings.TrimPrefix(n, "/")
		}
	}
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID
}

func psJSON(c container.Summary) map[string]any {
	return map[string]any{
		"ID": c.ID, "Name": containerName(c), "Image": c.Image, "Command": c.Command,
		"Project": c.Labels[core.LabelProject], "Service": c.Labels[core.LabelService],
		"Created": c.Created, "State": c.State, "Status": c.Status, "Labels": containercmd.JoinLabels(c.Labels),
		"Ports": containercmd.DisplayPorts(c.Ports), "Publishers": c.Ports,
		"ExitCode": exitCodeOf(c.Status),
	}
}

// exitCodeOf reads the code from an "Exited (N) ..." status.
func exitCodeOf(status string) int {
	var n int
	if strings.HasPrefix(status, "Exited (") {
		fmt.Sscanf(status, "Exited (%d)", &n)
	}
	return n
}

// renderComposePs prints docker compose ps's table.
func renderComposePs(e *command.Env, list []container.Summary) error {
	tw := tabwriter.NewWriter(e.Out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
	now := time.Now()
	for _, c := range list {
		cmd := c.Command
		if len(cmd) > 20 {
			cmd = cmd[:19] + "…"
		}
		created := units.HumanDuration(now.Sub(time.Unix(c.Created, 0))) + " ago"
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", containerName(c), c.Image, cmd,
			c.Labels[core.LabelService], created, c.Status, containercmd.DisplayPorts(c.Ports))
	}
	return tw.Flush()
}

func newComposeLogsCmd(o *composeOpts) *cobra.Command {
	var lo core.LogOptions
	var noColor bool
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			lo.Services, lo.NoColor = args, o.noColor(noColor)
			return s.Logs(cmd.Context(), name, o.e.Out, lo)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lo.Follow, "follow", "f", false, "Follow log output")
	fs.BoolVar(&noColor, "no-color", false, "Produce monochrome output")
	fs.BoolVar(&lo.NoPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	fs.StringVarP(&lo.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	fs.StringVar(&lo.Since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fs.BoolVarP(&lo.Timestamps, "timestamps", "t", false, "Show timestamps")
	return cmd
}

// serviceTarget resolves SERVICE (and --index) to a container for the
// commands that act on one container.
func (o *composeOpts) serviceTarget(cmd *cobra.Command, service string, index int, all bool) (container.Summary, error) {
	_, name, err := o.project(cmd.Context())
	if err != nil {
		return container.Summary{}, err
	}
	s, err := o.service()
	if err != nil {
		return container.Summary{}, err
	}
	return s.ServiceContainer(cmd.Context(), name, service, index, all)
}

func newComposeTopCmd(o *composeOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			list, err := s.Containers(cmd.Context(), name, args, false, false)
			if err != nil {
				return err
			}
			c, _ := o.e.Client()
			for _, ct := range list {
				top, err := c.ContainerTop(cmd.Context(), ct.ID, "")
				if err != nil {
					return err
				}
				fmt.Fprintln(o.e.Out, containerName(ct))
				tw := tabwriter.NewWriter(o.e.Out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
				for _, p := range top.Processes {
					fmt.Fprintln(tw, strings.Join(p, "\t"))
				}
				tw.Flush()
				fmt.Fprintln(o.e.Out)
			}
			return nil
		},
	}
}

func newComposePortCmd(o *composeOpts) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := o.serviceTarget(cmd, args[0], index, false)
			if err != nil {
				return err
			}
			c, _ := o.e.Client()
			info, err := c.ContainerInspect(cmd.Context(), ct.ID)
			if err != nil {
				return err
			}
			port, err := network.ParsePort(args[1] + "/" + protocol)
			if err != nil {
				return err
			}
			var binds []network.PortBinding
			if info.NetworkSettings != nil {
				binds = info.NetworkSettings.Ports[port]
			}
			if len(binds) == 0 {
				return fmt.Errorf("no port %s for container %s", port, containerName(ct))
			}
			fmt.Fprintln(o.e.Out, containercmd.HostAddr(binds[0]))
			return nil
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	return cmd
}

func newComposeImagesCmd(o *composeOpts) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, name, s, err := o.projectService(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := s.Images(cmd.Context(), name, args)
			if err != nil {
				return err
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Container < rows[j].Container })
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(o.e.Out, r.ID)
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(o.e.Out, 0, 0, 3, ' ', 0)
			fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Container, r.Repository, r.Tag, r.ID, units.HumanSizeWithPrecision(float64(r.Size), 3))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	return cmd
}
