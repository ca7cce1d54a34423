package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newTopCmd(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Top(cmd.Context(), c, e.Out, args[0], args[1:])
		}),
	}
	// Everything after CONTAINER belongs to ps.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// Top prints the container's processes as ps with psArgs shows them.
func Top(ctx context.Context, c *client.Client, out io.Writer, name string, psArgs []string) error {
	top, err := c.ContainerTop(ctx, name, strings.Join(psArgs, " "))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(top.Titles, "\t"))
	for _, p := range top.Processes {
		fmt.Fprintln(tw, strings.Join(p, "\t"))
	}
	return tw.Flush()
}

func newPortCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  command.RangeArgs(1, 2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Port(cmd.Context(), c, e.Out, args[0], args[1:]...)
		}),
	}
}

// Port prints the container's published ports, or the host addresses of
// the one port spec names ("80", "80/udp").
func Port(ctx context.Context, c *client.Client, out io.Writer, name string, spec ...string) error {
	ct, err := c.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	var ports network.PortMap
	if ct.NetworkSettings != nil {
		ports = ct.NetworkSettings.Ports
	}
	if len(spec) > 0 {
		return printOnePort(out, ports, name, spec[0])
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
			fmt.Fprintf(out, "%s -> %s\n", p, HostAddr(b))
		}
	}
	return nil
}

func printOnePort(out io.Writer, ports network.PortMap, name, spec string) error {
	p, err := network.ParsePort(withProto(spec))
	if err != nil {
		return fmt.Errorf("Error: invalid port (%s): %w", spec, err)
	}
	bs, ok := ports[p]
	if !ok || len(bs) == 0 {
		return fmt.Errorf("Error: No public port '%s' published for %s", p, name)
	}
	for _, b := range bs {
		fmt.Fprintln(out, HostAddr(b))
	}
	return nil
}

// HostAddr is a binding's "ip:port", 0.0.0.0 when it has no IP.
func HostAddr(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

func newDiffCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Diff(cmd.Context(), c, e.Out, args[0])
		}),
	}
}

// Diff prints the changes to the container's filesystem, one "KIND PATH" a line.
func Diff(ctx context.Context, c *client.Client, out io.Writer, name string) error {
	changes, err := c.ContainerChanges(ctx, name)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(out, "%s %s\n", ch.Kind, ch.Path)
	}
	return nil
}

func newExportCmd(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Export(cmd.Context(), c, e.Out, output, args[0])
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// Export writes the container's filesystem as a tar to the file output,
// or to out when output is "" and out is no terminal (docker refuses to
// write binary streams to a terminal).
func Export(ctx context.Context, c *client.Client, out io.Writer, output, name string) error {
	w, err := outputTo(out, output)
	if err != nil {
		return err
	}
	body, err := c.ContainerExport(ctx, name)
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

func outputTo(out io.Writer, path string) (io.WriteCloser, error) {
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("failed to export container: %w", err)
		}
		return f, nil
	}
	if command.IsTerminal(out) {
		return nil, errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	return nopCloser{out}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// CommitOptions are commit's flags.
type CommitOptions struct {
	Author, Message string
	Changes         []string
	Pause           bool
}

func newCommitCmd(e *Env) *cobra.Command {
	var o CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  command.RangeArgs(1, 2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			return Commit(cmd.Context(), c, e.Out, o, args[0], ref)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Author, "author", "a", "", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")")
	fs.StringVarP(&o.Message, "message", "m", "", "Commit message")
	fs.StringArrayVarP(&o.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fs.BoolVarP(&o.Pause, "pause", "p", true, "Pause container during commit")
	return cmd
}

// Commit makes an image of the container, tagged ref unless "", and
// prints its ID.
func Commit(ctx context.Context, c *client.Client, out io.Writer, o CommitOptions, name, ref string) error {
	opts := client.ContainerCommitOptions{Author: o.Author, Comment: o.Message, Changes: o.Changes, NoPause: !o.Pause}
	if ref != "" {
		opts.Repo, opts.Tag = command.SplitRepoTag(ref)
	}
	resp, err := c.ContainerCommit(ctx, name, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, resp.ID)
	return nil
}
