// Package network is `berth network`: create, ls, inspect, rm, prune,
// connect and disconnect, with docker CLI 28's flags, output and exit
// statuses. Each command is a cobra definition over an options struct and
// a function that takes the client and writers, testable without cobra.
package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

// NewCommand is `berth network`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("network", "Manage networks", newCreateCmd(e), newListCmd(e), newInspectCmd(e), newRemoveCmd(e),
		newPruneCmd(e), newConnectCmd(e), newDisconnectCmd(e))
}

const defaultFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

var headers = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

// row is one line of `network ls`, with docker's fields.
type row struct {
	n       network.Summary
	noTrunc bool
}

func (r row) ID() string {
	if r.noTrunc {
		return r.n.ID
	}
	return command.TruncID(r.n.ID)
}
func (r row) Name() string      { return r.n.Name }
func (r row) Driver() string    { return r.n.Driver }
func (r row) Scope() string     { return r.n.Scope }
func (r row) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r row) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r row) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r row) CreatedAt() string { return r.n.Created.String() }

// Labels is "k=v,k2=v2", sorted so the output is stable.
func (r row) Labels() string {
	kv := make([]string, 0, len(r.n.Labels))
	for k, v := range r.n.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// Label returns one label's value ({{.Label "k"}}).
func (r row) Label(name string) string { return r.n.Labels[name] }

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r row) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(),
		"IPv4": r.IPv4(), "IPv6": r.IPv6(), "Internal": r.Internal(), "Labels": r.Labels(), "CreatedAt": r.CreatedAt()})
}

// WriteList prints networks sorted by name, as docker's CLI does.
func WriteList(w io.Writer, list []network.Summary, format string, quiet, noTrunc bool) error {
	switch {
	case quiet && format == "":
		// docker lets --format win over -q (api-captures/34-network).
		format = "{{.ID}}"
	case format == "" || format == "table":
		format = defaultFormat
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rows := make([]any, len(list))
	for i, n := range list {
		rows[i] = row{n, noTrunc}
	}
	return command.Table{Format: format, Headers: headers}.Render(w, rows)
}

// CreateOptions are `network create`'s flags.
type CreateOptions struct {
	Driver, IPAMDriver, Scope           string
	Subnets, Gateways, IPRanges, Labels []string
	Opts, IPAMOpts                      map[string]string
	Internal, Attachable, IPv6, Ingress bool
}

func newCreateCmd(e *command.Env) *cobra.Command {
	var o CreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := o.Request(args[0])
			if err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Create(cmd.Context(), c, *req, e.Out, e.Err)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.VarP(command.MapValue{M: &o.Opts}, "opt", "o", "Set driver specific options")
	fs.StringArrayVar(&o.Labels, "label", nil, "Set metadata on a network")
	fs.BoolVar(&o.Internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&o.Attachable, "attachable", false, "Enable manual container attachment")
	fs.BoolVar(&o.Ingress, "ingress", false, "Create swarm routing-mesh network")
	fs.BoolVar(&o.IPv6, "ipv6", false, "Enable or disable IPv6 networking")
	fs.StringVar(&o.Scope, "scope", "", "Control the network's scope")
	fs.StringVar(&o.IPAMDriver, "ipam-driver", "default", "IP Address Management Driver")
	fs.Var(command.MapValue{M: &o.IPAMOpts}, "ipam-opt", "Set IPAM driver specific options")
	fs.StringArrayVar(&o.Subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	fs.StringArrayVar(&o.Gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	fs.StringArrayVar(&o.IPRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	return cmd
}

// Create is `network create`: it prints the new network's ID, and the
// daemon's warning on errOut.
func Create(ctx context.Context, c *client.Client, req network.CreateRequest, out, errOut io.Writer) error {
	resp, err := c.NetworkCreate(ctx, req)
	if err != nil {
		return err
	}
	if resp.Warning != "" {
		fmt.Fprintln(errOut, resp.Warning)
	}
	fmt.Fprintln(out, resp.ID)
	return nil
}

// Request builds docker's body: each --gateway and --ip-range is paired
// with the --subnet that contains it.
func (o CreateOptions) Request(name string) (*network.CreateRequest, error) {
	cfgs := []network.IPAMConfig{}
	for _, s := range o.Subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, &command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--subnet\" flag: invalid CIDR address: %s", s, s), Code: 125}
		}
		cfgs = append(cfgs, network.IPAMConfig{Subnet: p})
	}
	place := func(what string, contains func(network.IPAMConfig) bool, set func(*network.IPAMConfig)) error {
		for i := range cfgs {
			if contains(cfgs[i]) {
				set(&cfgs[i])
				return nil
			}
		}
		return &command.StatusError{Status: fmt.Sprintf("no matching subnet for %s", what), Code: 1}
	}
	for _, g := range o.Gateways {
		ip, err := netip.ParseAddr(g)
		if err != nil {
			return nil, &command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--gateway\" flag: ParseAddr(%q): invalid IP address", g, g), Code: 125}
		}
		if err := place("gateway "+g, func(c network.IPAMConfig) bool { return c.Subnet.Contains(ip) && !c.Gateway.IsValid() },
			func(c *network.IPAMConfig) { c.Gateway = ip }); err != nil {
			return nil, err
		}
	}
	for _, r := range o.IPRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, &command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--ip-range\" flag: invalid CIDR address: %s", r, r), Code: 125}
		}
		if err := place("range "+r, func(c network.IPAMConfig) bool { return c.Subnet.Contains(p.Addr()) && !c.IPRange.IsValid() },
			func(c *network.IPAMConfig) { c.IPRange = p }); err != nil {
			return nil, err
		}
	}
	req := &network.CreateRequest{
		Name: name, Driver: o.Driver, Scope: o.Scope, Internal: o.Internal, Attachable: o.Attachable, Ingress: o.Ingress,
		IPAM:    &network.IPAM{Driver: o.IPAMDriver, Options: o.IPAMOpts, Config: cfgs},
		Options: o.Opts, Labels: command.LabelMap(o.Labels),
	}
	if req.IPAM.Options == nil {
		req.IPAM.Options = map[string]string{}
	}
	if req.Options == nil {
		req.Options = map[string]string{}
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	if o.IPv6 {
		req.EnableIPv6 = &o.IPv6
	}
	return req, nil
}

func newListCmd(e *command.Env) *cobra.Command {
	var o ListOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return List(cmd.Context(), c, o, e.Out)
		}),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display network IDs")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate the output")
	fs.StringVar(&o.Format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&o.Filter, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

// ListOptions are `network ls`'s flags.
type ListOptions struct {
	command.ListFlags
	NoTrunc bool
}

// List is `network ls`.
func List(ctx context.Context, c *client.Client, o ListOptions, out io.Writer) error {
	list, err := c.NetworkList(ctx, client.ParseFilters(o.Filter))
	if err != nil {
		return err
	}
	return WriteList(out, list, o.Format, o.Quiet, o.NoTrunc)
}

// InspectKind looks up networks for the inspect commands.
var InspectKind = command.InspectKind{Name: "network", Fetch: command.Typed((*client.Client).NetworkInspectWithRaw),
	Missing: command.DaemonWords}

func newInspectCmd(e *command.Env) *cobra.Command {
	cmd := command.NewInspectCommand(e, "inspect [OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks", InspectKind)
	// Accepted as docker's; a local bridge network has nothing more to show.
	cmd.Flags().BoolP("verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	return command.NewRemoveCommand(e, command.RemoveCommand{Use: "rm NETWORK [NETWORK...]", Short: "Remove one or more networks",
		ForceHelp: "Do not error if the network does not exist", Remove: Remove})
}

// Remove is `network rm`: each name removed is printed, each failure
// reported on errOut; with force a missing network is no failure.
func Remove(ctx context.Context, c *client.Client, names []string, force bool, out, errOut io.Writer) error {
	return command.ForEach(ctx, out, errOut, names, func(ctx context.Context, n string) error {
		err := c.NetworkRemove(ctx, n)
		var ce *client.Error
		if force && errors.As(err, &ce) && ce.StatusCode == http.StatusNotFound {
			return nil
		}
		return err
	})
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var f command.PruneFlags
	return command.NewPruneCommand(e, &f, command.PruneCommand{
		Short:         "Remove all unused networks",
		FilterExample: "until=<timestamp>",
		Warning: func() string {
			return "WARNING! This will remove all custom networks not used by at least one container."
		},
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			return 0, Prune(ctx, c, f.Filter, out)
		},
		NoTotal: true,
	})
}

// Prune removes the unused networks the filters select and lists them.
func Prune(ctx context.Context, c *client.Client, filters []string, out io.Writer) error {
	rep, err := c.NetworksPrune(ctx, client.ParseFilters(filters))
	if err != nil {
		return err
	}
	command.PrintDeleted(out, "Deleted Networks:", rep.NetworksDeleted)
	return nil
}

// ConnectOptions are `network connect`'s flags.
type ConnectOptions struct {
	IP, IP6                               string
	Aliases, Links, LinkLocal, DriverOpts []string
}

// Endpoint is the endpoint settings docker's client sends for o.
func (o ConnectOptions) Endpoint() (*network.EndpointSettings, error) {
	es := &network.EndpointSettings{Aliases: o.Aliases, Links: o.Links, DriverOpts: map[string]string{}}
	if o.IP != "" || o.IP6 != "" {
		es.IPAMConfig = &network.EndpointIPAMConfig{}
		if o.IP != "" {
			addr, err := netip.ParseAddr(o.IP)
			if err != nil || !addr.Is4() {
				return nil, &command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--ip\" flag: invalid IPv4 address", o.IP), Code: 125}
			}
			es.IPAMConfig.IPv4Address = addr
		}
	}
	for _, d := range o.DriverOpts {
		k, v, _ := strings.Cut(d, "=")
		es.DriverOpts[k] = v
	}
	return es, nil
}

func newConnectCmd(e *command.Env) *cobra.Command {
	var o ConnectOptions
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := o.Endpoint()
			if err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Connect(cmd.Context(), c, args[0], args[1], es)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.IP, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	fs.StringVar(&o.IP6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	fs.StringArrayVar(&o.Aliases, "alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&o.Links, "link", nil, "Add link to another container")
	fs.StringArrayVar(&o.LinkLocal, "link-local-ip", nil, "Add a link-local address for the container")
	fs.StringArrayVar(&o.DriverOpts, "driver-opt", nil, "driver options for the network")
	return cmd
}

// Connect is `network connect`.
func Connect(ctx context.Context, c *client.Client, net, ctr string, es *network.EndpointSettings) error {
	return c.NetworkConnect(ctx, net, network.ConnectRequest{Container: ctr, EndpointConfig: es})
}

func newDisconnectCmd(e *command.Env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  command.ExactArgs(2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Disconnect(cmd.Context(), c, args[0], args[1], force)
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// Disconnect is `network disconnect`.
func Disconnect(ctx context.Context, c *client.Client, net, ctr string, force bool) error {
	return c.NetworkDisconnect(ctx, net, network.DisconnectRequest{Container: ctr, Force: force})
}
