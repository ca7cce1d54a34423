// Package cluster is the `berth cluster` command group and `berth kubectl`:
// thin clients of the daemon's /berth/cluster endpoints (berthd owns the
// cluster, see docs/architecture.md). The logic functions take a client and
// writers, so they are testable without cobra.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/cluster/kubecfg"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/spf13/cobra"
)

// ContextName is the kubeconfig context `up` merges (cluster.ContextName;
// not imported, so the CLI does not link the daemon side).
const ContextName = "berth"

// Status is the cluster status the daemon reports.
type Status = client.ClusterStatus

// NewCommand is `berth cluster`.
func NewCommand(d *command.Env) *cobra.Command {
	var endpoint string
	var noMerge bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster and wait until its node is Ready",
		Long: "Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet whose runtime\n" +
			"is the daemon's CRI socket, kube-proxy and CoreDNS, then merge the admin kubeconfig into\n" +
			"~/.kube/config (or the first file of KUBECONFIG) as context \"berth\". The first run builds\n" +
			"the Kubernetes binaries from the Go module proxy (about 10 minutes).",
		Args: command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := d.Client()
			if err != nil {
				return err
			}
			return Up(cmd.Context(), c, UpOptions{RuntimeEndpoint: endpoint, NoMerge: noMerge}, d.Out)
		},
	}
	up.Flags().StringVar(&endpoint, "runtime-endpoint", "", "CRI endpoint for the kubelet instead of the daemon's own (unix:///path)")
	up.Flags().BoolVar(&noMerge, "no-kubeconfig", false, "Do not merge the admin kubeconfig into the user's kubeconfig")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster and remove everything it added to the host",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := d.Client()
			if err != nil {
				return err
			}
			return Down(cmd.Context(), c, d.Out)
		},
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's state and processes",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := d.Client()
			if err != nil {
				return err
			}
			return PrintStatus(cmd.Context(), c, asJSON, d.Out)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "Print the status as JSON")
	kc := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the cluster's admin kubeconfig",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := d.Client()
			if err != nil {
				return err
			}
			b, err := Kubeconfig(cmd.Context(), c)
			if err != nil {
				return err
			}
			_, err = d.Out.Write(b)
			return err
		},
	}
	return command.Group("cluster", "Run a single-node Kubernetes on this daemon (berthd is its container runtime)", up, down, status, kc)
}

// NewKubectlCommand is `berth kubectl`.
func NewKubectlCommand(d *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl [ARG...]",
		Short:              "Run the cluster's kubectl with its admin kubeconfig",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				// kubectl's own help is one "berth kubectl help" away.
				return cmd.Help()
			}
			c, err := d.Client()
			if err != nil {
				return err
			}
			code, err := Kubectl(cmd.Context(), c, args, d.In, d.Out, d.Err)
			if err != nil {
				return err
			}
			if code != 0 {
				return &command.StatusError{Code: code}
			}
			return nil
		},
	}
}

// UpOptions are `cluster up`'s flags.
type UpOptions struct {
	RuntimeEndpoint string
	NoMerge         bool
}

// Up asks the daemon to bring the cluster up, prints its progress, and
// merges the admin kubeconfig into the user's.
func Up(ctx context.Context, c *client.Client, opts UpOptions, out io.Writer) error {
	if err := progress(out)(c.ClusterUp(ctx, client.ClusterUpOptions{RuntimeEndpoint: opts.RuntimeEndpoint})); err != nil {
		return err
	}
	if opts.NoMerge {
		return nil
	}
	kc, err := Kubeconfig(ctx, c)
	if err != nil {
		return err
	}
	path, err := kubecfg.Path()
	if err != nil {
		return err
	}
	if err := kubecfg.Merge(path, kc, ContextName); err != nil {
		return fmt.Errorf("merge the kubeconfig into %s: %w", path, err)
	}
	fmt.Fprintf(out, "kubeconfig: context %q in %s is current (kubectl get nodes)\n", ContextName, path)
	return nil
}

// Down asks the daemon to remove the cluster and takes its context out of
// the user's kubeconfig.
func Down(ctx context.Context, c *client.Client, out io.Writer) error {
	kc, _ := Kubeconfig(ctx, c) // gone already is fine
	if err := progress(out)(c.ClusterDown(ctx)); err != nil {
		return err
	}
	if kc == nil {
		return nil
	}
	path, err := kubecfg.Path()
	if err != nil {
		return err
	}
	return kubecfg.Remove(path, ContextName, kubecfg.Server(kc, ContextName))
}

// progress prints the status lines of an up or down stream to out and
// returns the error the stream ends with, if any.
func progress(out io.Writer) func(io.ReadCloser, error) error {
	return func(body io.ReadCloser, err error) error {
		if err != nil {
			return err
		}
		defer body.Close()
		return jsonstream.Decode(body, func(m jsonstream.Message) error {
			if m.Status != "" {
				fmt.Fprintln(out, m.Status)
			}
			return nil
		})
	}
}

// GetStatus reads the cluster's status.
func GetStatus(ctx context.Context, c *client.Client) (*Status, error) {
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("this daemon (%s) runs no Kubernetes cluster: it is not berthd, or an older one", c.Host())
		}
		return nil, err
	}
	return st, nil
}

// PrintStatus prints the status as a table (or JSON).
func PrintStatus(ctx context.Context, c *client.Client, asJSON bool, out io.Writer) error {
	st, err := GetStatus(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(out, "State:            %s\n", st.State)
	if st.State == "down" {
		return nil
	}
	fmt.Fprintf(out, "Node:             %s\nAPI server:       %s\nKubeconfig:       %s\nRuntime endpoint: %s\n", st.Node, st.APIServer, st.Kubeconfig, st.RuntimeEndpoint)
	fmt.Fprintf(out, "Pod subnet:       %s (bridge %s)\nService subnet:   %s\nCluster DNS:      %s\nCgroup root:      %s\nBinaries:         %s\n\n", st.PodSubnet, st.Bridge, st.ServiceSubnet, st.DNS, st.CgroupRoot, st.BinDir)
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tRUNNING\tLOG")
	for _, p := range st.Components {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\n", p.Name, p.PID, p.Running, p.Log)
	}
	return tw.Flush()
}

// Kubeconfig fetches the admin kubeconfig.
func Kubeconfig(ctx context.Context, c *client.Client) ([]byte, error) {
	return c.ClusterKubeconfig(ctx)
}

// Kubectl runs the cluster's kubectl with the admin kubeconfig (in a
// private temporary file) and returns its exit code.
func Kubectl(ctx context.Context, c *client.Client, args []string, in io.Reader, out, errw io.Writer) (int, error) {
	st, err := GetStatus(ctx, c)
	if err != nil {
		return 0, err
	}
	if st.State == "down" || st.BinDir == "" {
		return 0, errors.New("no cluster: run `berth cluster up` first")
	}
	kc, err := Kubeconfig(ctx, c)
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "berth-kubectl-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(st.BinDir, "kubectl"), args...)
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG"), "KUBECONFIG="+path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, errw
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, fmt.Errorf("run kubectl: %w", err)
	}
	return 0, nil
}

func withoutEnv(env []string, key string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	return out
}
