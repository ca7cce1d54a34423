package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

const networksDefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

// networkCommands are `berth network ...`.
func networkCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newNetworkCreateCmd(a), newNetworkLsCmd(a), newNetworkInspectCmd(a), newNetworkRmCmd(a),
		newNetworkPruneCmd(a), newNetworkConnectCmd(a), newNetworkDisconnectCmd(a)}
}

// newNetworkCommand is the `network` group for the root command.
func newNetworkCommand(a *app) *cobra.Command {
	return groupCommand("network", "Manage networks", networkCommands(a))
}

// networkRow is one line of `network ls`, with docker's fields.
type networkRow struct {
	n       network.Summary
	noTrunc bool
}

func (r networkRow) ID() string {
	if r.noTrunc {
		return r.n.ID
	}
	return truncID(r.n.ID)
}
func (r networkRow) Name() string      { return r.n.Name }
func (r networkRow) Driver() string    { return r.n.Driver }
func (r networkRow) Scope() string     { return r.n.Scope }
func (r networkRow) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r networkRow) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r networkRow) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r networkRow) CreatedAt() string { return r.n.Created.String() }

// Labels is "k=v,k2=v2", sorted so the output is stable.
func (r networkRow) Labels() string {
	kv := make([]string, 0, len(r.n.Labels))
	for k, v := range r.n.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// Label returns one label's value ({{.Label "k"}}).
func (r networkRow) Label(name string) string { return r.n.Labels[name] }

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r networkRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]any{"ID": r.ID(), "Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(),
		"IPv4": r.IPv4(), "IPv6": r.IPv6(), "Internal": r.Internal(), "Labels": r.Labels(), "CreatedAt": r.CreatedAt()})
}

// renderNetworks prints networks sorted by name, as docker's CLI does.
func renderNetworks(a *app, list []network.Summary, format string, quiet, noTrunc bool) error {
	switch {
	case quiet && format == "":
		// docker lets --format win over -q (api-captures/34-network).
		format = "{{.ID}}"
	case format == "" || format == "table":
		format = networksDefaultFormat
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rows := make([]any, len(list))
	for i, n := range list {
		rows[i] = networkRow{n, noTrunc}
	}
	return table{format: format, headers: networkHeaders}.render(a.Out, rows)
}

type networkCreateOpts struct {
	driver, ipamDriver, scope           string
	subnets, gateways, ipRanges, labels []string
	opts, ipamOpts                      map[string]string
	internal, attachable, ipv6, ingress bool
}

func newNetworkCreateCmd(a *app) *cobra.Command {
	var o networkCreateOpts
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := o.request(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.NetworkCreate(cmd.Context(), *req)
			if err != nil {
				return err
			}
			if resp.Warning != "" {
				fmt.Fprintln(a.Err, resp.Warning)
			}
			fmt.Fprintln(a.Out, resp.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.VarP(mapValue{&o.opts}, "opt", "o", "Set driver specific options")
	fs.StringArrayVar(&o.labels, "label", nil, "Set metadata on a network")
	fs.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	fs.BoolVar(&o.ingress, "ingress", false, "Create swarm routing-mesh network")
	fs.BoolVar(&o.ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	fs.StringVar(&o.scope, "scope", "", "Control the network's scope")
	fs.StringVar(&o.ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	fs.Var(mapValue{&o.ipamOpts}, "ipam-opt", "Set IPAM driver specific options")
	fs.StringArrayVar(&o.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	fs.StringArrayVar(&o.gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	fs.StringArrayVar(&o.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	return cmd
}

// request builds docker's body: each --gateway and --ip-range is paired
// with the --subnet that contains it.
func (o networkCreateOpts) request(name string) (*network.CreateRequest, error) {
	cfgs := []network.IPAMConfig{}
	for _, s := range o.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, &StatusError{Status: fmt.Sprintf("invalid argument %q for \"--subnet\" flag: invalid CIDR address: %s", s, s), Code: 125}
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
		return &StatusError{Status: fmt.Sprintf("no matching subnet for %s", what), Code: 1}
	}
	for _, g := range o.gateways {
		ip, err := netip.ParseAddr(g)
		if err != nil {
			return nil, &StatusError{Status: fmt.Sprintf("invalid argument %q for \"--gateway\" flag: ParseAddr(%q): invalid IP address", g, g), Code: 125}
		}
		if err := place("gateway "+g, func(c network.IPAMConfig) bool { return c.Subnet.Contains(ip) && !c.Gateway.IsValid() },
			func(c *network.IPAMConfig) { c.Gateway = ip }); err != nil {
			return nil, err
		}
	}
	for _, r := range o.ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, &StatusError{Status: fmt.Sprintf("invalid argument %q for \"--ip-range\" flag: invalid CIDR address: %s", r, r), Code: 125}
		}
		if err := place("range "+r, func(c network.IPAMConfig) bool { return c.Subnet.Contains(p.Addr()) && !c.IPRange.IsValid() },
			func(c *network.IPAMConfig) { c.IPRange = p }); err != nil {
			return nil, err
		}
	}
	req := &network.CreateRequest{
		Name: name, Driver: o.driver, Scope: o.scope, Internal: o.internal, Attachable: o.attachable, Ingress: o.ingress,
		IPAM:    &network.IPAM{Driver: o.ipamDriver, Options: o.ipamOpts, Config: cfgs},
		Options: o.opts, Labels: labelMap(o.labels),
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
	if o.ipv6 {
		req.EnableIPv6 = &o.ipv6
	}
	return req, nil
}

func newNetworkLsCmd(a *app) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			list, err := c.NetworkList(cmd.Context(), client.ParseFilters(filters))
			if err != nil {
				return err
			}
			return renderNetworks(a, list, format, quiet, noTrunc)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

func newNetworkInspectCmd(a *app) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.inspect(cmd.Context(), args, []inspectKind{networkKind}, inspectOpts{format: format}, "network")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newNetworkRmCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return forEach(cmd.Context(), a, args, func(ctx context.Context, n string) error {
				err := c.NetworkRemove(ctx, n)
				var ce *client.Error
				if force && errors.As(err, &ce) && ce.StatusCode == http.StatusNotFound {
					return nil
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkPruneCmd(a *app) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !a.confirm("WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			_, err := a.postPrune(cmd.Context(), "/networks/prune", filters, "NetworksDeleted", "Deleted Networks:")
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func newNetworkConnectCmd(a *app) *cobra.Command {
	var ip, ip6 string
	var aliases, links, linkLocal, driverOpts []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := &network.EndpointSettings{Aliases: aliases, Links: links, DriverOpts: map[string]string{}}
			if ip != "" || ip6 != "" {
				es.IPAMConfig = &network.EndpointIPAMConfig{}
				if ip != "" {
					addr, err := netip.ParseAddr(ip)
					if err != nil || !addr.Is4() {
						return &StatusError{Status: fmt.Sprintf("invalid argument %q for \"--ip\" flag: invalid IPv4 address", ip), Code: 125}
					}
					es.IPAMConfig.IPv4Address = addr
				}
			}
			for _, o := range driverOpts {
				k, v, _ := strings.Cut(o, "=")
				es.DriverOpts[k] = v
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			req := network.ConnectRequest{Container: args[1], EndpointConfig: es}
			return c.NetworkConnect(cmd.Context(), args[0], req)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	fs.StringVar(&ip6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	fs.StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVar(&links, "link", nil, "Add link to another container")
	fs.StringArrayVar(&linkLocal, "link-local-ip", nil, "Add a link-local address for the container")
	fs.StringArrayVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	return cmd
}

func newNetworkDisconnectCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			req := network.DisconnectRequest{Container: args[1], Force: force}
			return c.NetworkDisconnect(cmd.Context(), args[0], req)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}
