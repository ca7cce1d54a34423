package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newTopCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			top, err := c.ContainerTop(cmd.Context(), args[0], strings.Join(args[1:], " "))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 20, 1, 3, ' ', 0)
			fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(tw, strings.Join(p, "\t"))
			}
			return tw.Flush()
		},
	}
	// Everything after CONTAINER belongs to ps.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newPortCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ct, err := c.ContainerInspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ct.NetworkSettings != nil {
				ports = ct.NetworkSettings.Ports
			}
			if len(args) == 2 {
				return printOnePort(a, ports, args[0], args[1])
			}
			keys := make([]network.Port, 0, len(ports))
			for p := range ports {
				keys = append(keys, p)
			}
			sort.Slice(keys, func(i, j int) bool {
				if keys[i].Num() != keys[j].Num() {
					return keys[i].Num() < keys[j].Num()
				}
				return keys[i].Proto() < keys[j].Proto()
			})
			for _, p := range keys {
				for _, b := range ports[p] {
					fmt.Fprintf(a.Out, "%s -> %s\n", p, hostAddr(b))
				}
			}
			return nil
		},
	}
}

func printOnePort(a *app, ports network.PortMap, name, spec string) error {
	p, err := network.ParsePort(withProto(spec))
	if err != nil {
		return fmt.Errorf("Error: invalid port (%s): %w", spec, err)
	}
	bs, ok := ports[p]
	if !ok || len(bs) == 0 {
		return fmt.Errorf("Error: No public port '%s' published for %s", p, name)
	}
	for _, b := range bs {
		fmt.Fprintln(a.Out, hostAddr(b))
	}
	return nil
}

func hostAddr(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

func newDiffCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			changes, err := c.ContainerChanges(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintf(a.Out, "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		},
	}
}

// outputTo opens -o, or stdout when it is not a terminal (docker refuses to
// write binary streams to a terminal).
func (a *app) outputTo(path string) (io.WriteCloser, error) {
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("failed to export container: %w", err)
		}
		return f, nil
	}
	if isTerminal(a.Out) {
		return nil, errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	return nopCloser{a.Out}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func newExportCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.download(output, func() (io.ReadCloser, error) { return c.ContainerExport(cmd.Context(), args[0]) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// download streams a body to -o or stdout.
func (a *app) download(output string, get func() (io.ReadCloser, error)) error {
	w, err := a.outputTo(output)
	if err != nil {
		return err
	}
	body, err := get()
	if err != nil {
		w.Close()
		return err
	}
	defer body.Close()
	if _, err := io.Copy(w, body); err != nil {
		w.Close()
		return fmt.Errorf("copy: %w", err)
	}
	return w.Close()
}

func newCommitCmd(a *app) *cobra.Command {
	var author, message string
	var changes []string
	var pause bool
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			opts := client.ContainerCommitOptions{Author: author, Comment: message, Changes: changes, NoPause: !pause}
			if len(args) == 2 {
				opts.Repo, opts.Tag = splitRepoTag(args[1])
			}
			resp, err := c.ContainerCommit(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, resp.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&author, "author", "a", "", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")")
	fs.StringVarP(&message, "message", "m", "", "Commit message")
	fs.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fs.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
