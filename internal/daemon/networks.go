package daemon

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/etcfiles"
	bnet "github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/oci"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ContainerNetworkMode gives the network backend a container's ID and
// network mode (networks.Containers).
func (d *Daemon) ContainerNetworkMode(name string) (string, container.NetworkMode, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return "", "", err
	}
	return c.ID, container.NetworkMode(c.HostConfig.NetworkMode), nil
}

// resolveNetworkMode replaces validateNetworkMode: "" and "default" become
// "bridge", a user network is checked to exist and kept by name (as
// dockerd stores it). Idempotent (ContainerUpdate calls it again).
func (d *Daemon) resolveNetworkMode(hc *container.HostConfig) error {
	nm := container.NetworkMode(hc.NetworkMode)
	switch {
	case nm == "" || nm.IsDefault():
		hc.NetworkMode = network.NetworkBridge
	case nm.IsNone(), nm.IsHost(), nm.IsBridge():
	case nm.IsContainer():
		other, err := d.containers.get(nm.ConnectedContainer())
		if err != nil {
			return err
		}
		hc.NetworkMode = container.NetworkMode("container:" + other.ID)
	default:
		if _, _, err := d.networks.Resolve(string(nm)); err != nil {
			return err
		}
	}
	if container.NetworkMode(hc.NetworkMode).IsContainer() && (len(hc.PortBindings) > 0 || hc.PublishAllPorts) {
		// Host and none modes ignore published ports, as in dockerd.
		return errdefs.Invalidf("conflicting options: port publishing and the container type network mode")
	}
	return nil
}

// usesBridge reports whether c gets endpoints from the network manager:
// on a user network, or on the default bridge unless berthd runs with
// --bridge none (then, as with dockerd, only loopback).
func (d *Daemon) usesBridge(hc *container.HostConfig) bool {
	nm := container.NetworkMode(hc.NetworkMode)
	return nm.IsUserDefined() || (nm.IsBridge() && d.networks.HasDefaultBridge())
}

// registerNetworks records a new container's networks (create, after
// resolveNetworkMode). nc is the request's NetworkingConfig (may be nil).
func (d *Daemon) registerNetworks(c *Container, nc *network.NetworkingConfig) error {
	if !d.usesBridge(c.HostConfig) {
		return nil
	}
	var eps map[string]*network.EndpointSettings
	if nc != nil {
		eps = nc.EndpointsConfig
	}
	return d.networks.Register(c.ID, c.Name, string(c.HostConfig.NetworkMode), eps)
}

// networkSetup is what setupNetwork made, for the spec and the /etc files.
type networkSetup struct {
	NetNS      string     // path for oci.Input.NetNS
	IPs        []string   // container addresses, primary first
	Nameserver netip.Addr // the embedded DNS on user networks (zero: none)
	ExtraHosts []string   // --add-host (host-gateway resolved) and links, "name:ip"
}

// setupNetwork runs in start before oci.Generate for bridge and
// user-network containers: it makes the netns with its endpoints and
// published ports. nil, nil for other modes.
func (d *Daemon) setupNetwork(ctx context.Context, c *Container) (*networkSetup, error) {
	if !d.usesBridge(c.HostConfig) {
		return nil, nil
	}
	if !d.networks.Registered(c.ID) {
		// A record made before networking existed, or one whose network
		// record was lost: register with the defaults.
		if err := d.registerNetworks(c, nil); err != nil {
			return nil, err
		}
	}
	res, err := d.networks.Setup(ctx, c.ID, bnet.SetupOptions{
		PortBindings: c.HostConfig.PortBindings,
		PublishAll:   c.HostConfig.PublishAllPorts,
		Exposed:      c.Config.ExposedPorts,
		Links:        userNetworkLinks(c.HostConfig),
		DNS:          c.HostConfig.DNS,
	})
	if err != nil {
		return nil, err
	}
	ns := &networkSetup{NetNS: res.NSPath}
	for _, ip := range res.IPs {
		ns.IPs = append(ns.IPs, ip.String())
	}
	ns.Nameserver = res.Nameserver
	hosts, err := d.resolveExtraHosts(c.HostConfig.ExtraHosts)
	if err != nil {
		d.networks.Teardown(ctx, c.ID)
		return nil, err
	}
	ls, err := d.links(c)
	if err != nil {
		d.networks.Teardown(ctx, c.ID)
		return nil, err
	}
	if ls != nil {
		hosts = append(hosts, ls.Hosts...)
	}
	ns.ExtraHosts = hosts
	return ns, nil
}

// userNetworkLinks are the links the network manager resolves by DNS: on
// a user-defined network only (the default bridge has /etc/hosts entries).
func userNetworkLinks(hc *container.HostConfig) []string {
	if container.NetworkMode(hc.NetworkMode).IsUserDefined() {
		return hc.Links
	}
	return nil
}

// resolveExtraHosts substitutes host-gateway with the default bridge's
// gateway address, like dockerd.
func (d *Daemon) resolveExtraHosts(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, h := range in {
		i := strings.IndexAny(h, ":=")
		if i > 0 && h[i+1:] == "host-gateway" {
			gw, err := d.networks.HostGateway()
			if err != nil {
				return nil, err
			}
			h = h[:i+1] + gw.String()
		}
		out = append(out, h)
	}
	return out, nil
}

// writeNetworkEtcFiles is writeEtcFiles for bridge/user-network containers:
// hosts gets the container's addresses, links and --add-host entries, and
// resolv.conf the embedded DNS on user networks.
func (d *Daemon) writeNetworkEtcFiles(c *Container, in *oci.Input, ns *networkSetup) error {
	if err := etcfiles.WriteHostname(in.HostnamePath, c.Config.Hostname); err != nil {
		return err
	}
	if err := etcfiles.WriteHosts(in.HostsPath, c.Config.Hostname, c.Config.Domainname, ns.IPs, ns.ExtraHosts); err != nil {
		return err
	}
	data, err := d.resolvConf(c, ns.Nameserver)
	if err != nil {
		return err
	}
	return etcfiles.WriteResolvConfData(in.ResolvConfPath, data)
}

// resolvConf is the resolv.conf of a bridge/user-network container whose
// embedded DNS is at nameserver (zero: none, the host's or --dns servers).
func (d *Daemon) resolvConf(c *Container, nameserver netip.Addr) ([]byte, error) {
	host, err := etcfiles.ReadHostResolvConf("/etc/resolv.conf")
	if err != nil {
		return nil, err
	}
	if nameserver.IsValid() {
		// The embedded DNS forwards to --dns servers itself.
		return etcfiles.BuildEmbeddedResolvConf(host, nameserver.String(), c.HostConfig.DNSSearch, c.HostConfig.DNSOptions), nil
	}
	dns := make([]string, 0, len(c.HostConfig.DNS))
	for _, a := range c.HostConfig.DNS {
		dns = append(dns, a.String())
	}
	return etcfiles.BuildResolvConf(host, dns, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions), nil
}

// ContainerNetworkChanged follows a running container's network connect
// (added: its addresses on the new network) or disconnect (removed: those
// it had there) into its /etc files, as dockerd does: hosts gains or loses
// the container's lines for those addresses, and resolv.conf moves to the
// embedded DNS when the container joins its first user-defined network
// (dockerd's 127.0.0.11; here the network's DNS on its gateway), so that
// network's names resolve. Leaving the network whose DNS it asked moves it
// to another user network's, or back to the host's resolvers: dockerd keeps
// 127.0.0.11, which still forwards, while a left network's gateway may not
// be reachable. A resolv.conf edited inside the container stays as it is.
// Failures are logged: the network change itself stands.
func (d *Daemon) ContainerNetworkChanged(ctx context.Context, id string, added, removed []netip.Addr) {
	c, err := d.containers.get(id)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running() {
		return // start writes them afresh
	}
	dir := d.containerDir(c.ID)
	hostsPath, resolvPath := filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf")
	if err := etcfiles.DeleteHostEntries(hostsPath, c.Config.Hostname, c.Config.Domainname, removed); err != nil {
		d.log.Warn("remove the left network's addresses from hosts", "id", c.ID, "err", err)
	}
	if err := etcfiles.AddHostEntries(hostsPath, c.Config.Hostname, c.Config.Domainname, added); err != nil {
		d.log.Warn("add the joined network's addresses to hosts", "id", c.ID, "err", err)
	}
	data, err := d.resolvConf(c, d.networks.Nameserver(c.ID))
	if err == nil {
		_, err = etcfiles.RewriteResolvConf(resolvPath, data)
	}
	if err != nil {
		d.log.Warn("update resolv.conf after a network change", "id", c.ID, "err", err)
	}
}

// teardownNetwork releases c's namespace, endpoints and ports (on exit, on
// a failed start, and for stopped containers found at daemon start).
func (d *Daemon) teardownNetwork(ctx context.Context, c *Container) {
	if err := d.networks.Teardown(ctx, c.ID); err != nil {
		d.log.Warn("release container network", "id", c.ID, "err", err)
	}
}

// forgetNetwork drops a removed container's network record.
func (d *Daemon) forgetNetwork(ctx context.Context, c *Container) {
	if err := d.networks.Forget(ctx, c.ID); err != nil {
		d.log.Warn("forget container network", "id", c.ID, "err", err)
	}
}

// networkSettings renders NetworkSettings for inspect and ps.
func (d *Daemon) networkSettings(c *Container) *container.NetworkSettings {
	ns := &container.NetworkSettings{Ports: network.PortMap{}, Networks: map[string]*network.EndpointSettings{}}
	mode := string(c.HostConfig.NetworkMode)
	if mode == "host" || mode == "none" {
		ns.Networks[mode] = &network.EndpointSettings{}
		return ns
	}
	nets, ports, key := d.networks.Settings(c.ID, c.Config.ExposedPorts)
	if nets != nil {
		ns.Networks = nets
	}
	if mode == network.NetworkBridge && len(ns.Networks) == 0 {
		// --bridge none: dockerd still lists the (empty) endpoint.
		ns.Networks[mode] = &network.EndpointSettings{}
	}
	if ports != nil {
		ns.Ports = ports
	}
	if nm := container.NetworkMode(mode); nm.IsUserDefined() && len(c.HostConfig.Links) > 0 {
		// On a user-defined network links are the endpoint's DNS aliases.
		if ep := ns.Networks[mode]; ep != nil {
			links := slices.Clone(c.HostConfig.Links)
			for _, l := range ep.Links {
				if !slices.Contains(links, l) {
					links = append(links, l)
				}
			}
			ep.Links = links
		}
	}
	ns.SandboxKey = key
	if key != "" {
		ns.SandboxID = c.ID
	}
	return ns
}

// portSummaries is ps's Ports column data.
func portSummaries(ns *container.NetworkSettings) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bs := range ns.Ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			pub, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(pub), Type: string(p.Proto())})
		}
	}
	// Stable: a binding's 0.0.0.0 half stays before its :: half.
	slices.SortStableFunc(out, func(a, b container.PortSummary) int {
		if a.PrivatePort != b.PrivatePort {
			return int(a.PrivatePort) - int(b.PrivatePort)
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}
