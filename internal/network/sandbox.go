package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/nft"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/berth-project/berth/internal/network/portproxy"
	"github.com/moby/moby/api/types/network"
)

// SetupOptions is what a starting container publishes and links to.
type SetupOptions struct {
	PortBindings network.PortMap
	PublishAll   bool
	Exposed      network.PortSet
	// Links are HostConfig.Links ("/other:/me/alias" or "other:alias").
	Links []string
	// DNS are the container's --dns servers: on user-defined networks the
	// embedded DNS forwards to them.
	DNS []netip.Addr
}

// SetupResult is what the daemon needs to write the container's /etc
// files and spec.
type SetupResult struct {
	NSPath string
	// IPs are the container's addresses (IPv4, then IPv6 where there is
	// one), primary network first.
	IPs []netip.Addr
	// Nameserver is the embedded DNS address when the container is on a
	// user-defined network (zero otherwise: use the host's resolvers).
	Nameserver netip.Addr
}

// Setup makes the container's namespace, endpoints and published ports.
// On error nothing is left: no namespace, veth, address, port or rule.
func (m *Manager) Setup(ctx context.Context, containerID string, opts SetupOptions) (res *SetupResult, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errdefs.Unavailable(errorString("networking is shut down"))
	}
	c := m.ctrs[containerID]
	if c == nil {
		return nil, errdefs.NotFoundf("no network configuration for container %s", containerID)
	}
	if c.Sandbox != nil {
		m.releaseLocked(c) // a leftover of a run that ended while we were down
	}
	for id := range c.Networks {
		if m.networks[id] == nil {
			return nil, errdefs.NotFoundf("network %s not found", id)
		}
	}
	reqs, err := portmap.Requests(opts.PortBindings, opts.PublishAll, opts.Exposed)
	if err != nil {
		return nil, err
	}
	c.DNS = opts.DNS
	c.Links = opts.Links
	sb := &Sandbox{NSPath: m.NetNSPath(c.ID), Endpoints: map[string]*Endpoint{}}
	// A namespace left by a setup that the daemon's exit interrupted.
	bridge.DeleteNetNS(sb.NSPath)
	if err := bridge.NewNetNS(sb.NSPath); err != nil {
		return nil, err
	}
	c.Sandbox = sb
	defer func() {
		if err != nil {
			m.releaseLocked(c)
		}
	}()
	for _, id := range m.order(c) {
		if err := m.addEndpoint(c, m.networks[id], c.Networks[id]); err != nil {
			return nil, err
		}
	}
	if len(reqs) > 0 {
		// The primary network's host_binding_ipv4 is the default host
		// address of its published ports; without one a port is
		// published on 0.0.0.0 and, where the host has IPv6, on :: too.
		var def netip.Addr
		if n := m.networks[c.Primary]; n != nil {
			if o, _ := parseBridgeOptions(n.Options); o.HostBinding.IsValid() {
				def = o.HostBinding
			}
		}
		if err := m.publish(c, portmap.Expand(reqs, def, m.v6)); err != nil {
			return nil, err
		}
	}
	if err := m.saveContainer(c); err != nil {
		return nil, err
	}
	return m.result(c), nil
}

// order lists the container's networks, primary first, then by name.
func (m *Manager) order(c *Container) []string {
	var ids []string
	for id := range c.Networks {
		if m.networks[id] != nil && id != c.Primary {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(m.networks[a].Name, m.networks[b].Name) })
	if m.networks[c.Primary] != nil && c.Networks[c.Primary] != nil {
		ids = append([]string{c.Primary}, ids...)
	}
	return ids
}

func (m *Manager) publish(c *Container, reqs []portmap.Request) error {
	primary := m.primaryEndpoint(c)
	if primary == nil {
		return errdefs.Invalidf("cannot publish ports of a container without a bridge network")
	}
	for i := range reqs {
		reqs[i].ContainerIP = proxyTarget(primary, reqs[i].HostIP)
	}
	failed := func(err error) error {
		// dockerd 28's words and class for a port it cannot publish, held
		// by a container or by another process alike: a 500 (%v drops the
		// allocator's conflict class, as dockerd's errdefs.System does).
		return errdefs.System(fmt.Errorf("failed to set up container networking: driver failed programming external connectivity on endpoint %s (%s): %v", c.Name, primary.ID, err))
	}
	ms, err := m.ports.Allocate(c.ID, reqs)
	if err != nil {
		return failed(err)
	}
	c.Sandbox.Ports = ms
	// The rules before the listeners, as dockerd: a listener accepting
	// first would take connections the rules are meant to carry.
	if err := m.addPortRules(c, primary); err != nil {
		return err
	}
	if err := m.startProxies(c, primary); err != nil {
		return failed(err)
	}
	return nil
}

// primaryEndpoint is the endpoint published ports lead to: the first of
// the container's networks in order.
func (m *Manager) primaryEndpoint(c *Container) *Endpoint {
	for _, id := range m.order(c) {
		if ep := c.Sandbox.Endpoints[id]; ep != nil {
			return ep
		}
	}
	return nil
}

// proxyTarget is the container address a binding on hostIP leads to: its
// IPv6 address for an IPv6 host address when it has one, else its IPv4
// address (dockerd 28's proxying of host IPv6 to an IPv4-only container).
func proxyTarget(ep *Endpoint, hostIP netip.Addr) netip.Addr {
	if hostIP.Is6() && ep.IP6.IsValid() {
		return ep.IP6
	}
	return ep.IP
}

// portRules are the DNAT rules of c's bindings: its IPv4 ones for the ip
// table, and for the ip6 table the IPv6 ones of a container with an IPv6
// address (an IPv4-only container's are the proxy's alone, as are
// loopback host addresses, which no packet rule can serve).
func (m *Manager) portRules(c *Container, primary *Endpoint) (v4, v6 []nft.Rule) {
	for _, p := range c.Sandbox.Ports {
		if p.Proto == "sctp" {
			continue
		}
		pm := nft.PortMapping{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: primary.IP, ContainerPort: p.ContainerPort}
		switch {
		case !p.HostIP.Is6():
			v4 = append(v4, nft.PortRules("ctr:"+c.ID, pm)...)
		case primary.IP6.IsValid() && !p.HostIP.IsLoopback():
			pm.ContainerIP = primary.IP6
			v6 = append(v6, nft.PortRules("ctr:"+c.ID, pm)...)
		}
	}
	return v4, v6
}

// addPortRules installs c's DNAT rules in both tables.
func (m *Manager) addPortRules(c *Container, primary *Endpoint) error {
	v4, v6 := m.portRules(c, primary)
	if err := m.table.Add(v4...); err != nil {
		return err
	}
	if len(v6) > 0 {
		return m.table6.Add(v6...)
	}
	return nil
}

// startProxies listens on c's IPv6 host addresses and forwards to the
// container. A listen that fails is dockerd's bind error for that binding;
// the proxies already started stay recorded for releaseLocked.
func (m *Manager) startProxies(c *Container, primary *Endpoint) error {
	for _, p := range c.Sandbox.Ports {
		if !p.HostIP.Is6() {
			continue
		}
		if p.Proto != "tcp" && p.Proto != "udp" {
			m.log.Info("no IPv6 proxy for the protocol; the binding is recorded but not served", "container", c.ID, "proto", p.Proto, "port", p.HostPort)
			continue
		}
		target := proxyTarget(primary, p.HostIP)
		px, err := portproxy.Start(p.Proto, netip.AddrPortFrom(p.HostIP, p.HostPort), netip.AddrPortFrom(target, p.ContainerPort), m.log)
		if err != nil {
			return &portmap.BindError{Req: portmap.Request{
				Proto: p.Proto, HostIP: p.HostIP, HostPortStart: p.HostPort, HostPortEnd: p.HostPort,
				ContainerPort: p.ContainerPort, ContainerIP: target,
			}, Port: p.HostPort, Err: err}
		}
		m.proxies[c.ID] = append(m.proxies[c.ID], px)
	}
	return nil
}

// stopProxies closes c's proxies: their listeners and connections end.
func (m *Manager) stopProxies(id string) {
	for _, px := range m.proxies[id] {
		px.Close()
	}
	delete(m.proxies, id)
}

func (m *Manager) result(c *Container) *SetupResult {
	res := &SetupResult{NSPath: c.Sandbox.NSPath, Nameserver: m.nameserver(c)}
	for _, id := range m.order(c) {
		if ep := c.Sandbox.Endpoints[id]; ep != nil {
			// dockerd's /etc/hosts names every address of the container.
			res.IPs = append(res.IPs, ep.IP)
			if ep.IP6.IsValid() {
				res.IPs = append(res.IPs, ep.IP6)
			}
		}
	}
	return res
}

// nameserver is the embedded DNS address c uses: the gateway of its first
// user-defined network with a live endpoint (primary first), zero when it
// is on the default bridge alone. m.mu is held.
func (m *Manager) nameserver(c *Container) netip.Addr {
	if c.Sandbox == nil {
		return netip.Addr{}
	}
	for _, id := range m.order(c) {
		if n := m.networks[id]; c.Sandbox.Endpoints[id] != nil && !n.Default {
			return n.Pool.Gateway
		}
	}
	return netip.Addr{}
}

// Nameserver is the embedded DNS address a running container uses now
// (zero: the host's resolvers): it changes when the container joins its
// first user-defined network or leaves the one it used.
func (m *Manager) Nameserver(containerID string) netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.ctrs[containerID]; c != nil {
		return m.nameserver(c)
	}
	return netip.Addr{}
}

// EndpointAddrs are a running container's addresses on network netRef
// (none when it has no live endpoint there).
func (m *Manager) EndpointAddrs(containerID, netRef string) []netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	n, err := m.find(netRef)
	if c == nil || c.Sandbox == nil || err != nil {
		return nil
	}
	ep := c.Sandbox.Endpoints[n.ID]
	if ep == nil {
		return nil
	}
	out := []netip.Addr{ep.IP}
	if ep.IP6.IsValid() {
		out = append(out, ep.IP6)
	}
	return out
}

// parseLink reads "/db:/web/alias" (the API's stored form) or "db:alias".
func parseLink(l string) (target, alias string) {
	t, a, _ := strings.Cut(l, ":")
	target = strings.TrimPrefix(t, "/")
	if i := strings.LastIndex(a, "/"); i >= 0 {
		a = a[i+1:]
	}
	return target, a
}

// linkIP is target's address on a network c shares with it.
func (m *Manager) linkIP(c *Container, target string) netip.Addr {
	for _, o := range m.ctrs {
		if o.Sandbox == nil || (o.Name != target && o.ID != target) {
			continue
		}
		for id := range c.Sandbox.Endpoints {
			if ep := o.Sandbox.Endpoints[id]; ep != nil {
				return ep.IP
			}
		}
	}
	return netip.Addr{}
}

// linkIPOn is the address of the running container target on network nid.
func (m *Manager) linkIPOn(nid, target string) netip.Addr {
	for _, o := range m.ctrs {
		if o.Sandbox != nil && (o.Name == target || o.ID == target) {
			if ep := o.Sandbox.Endpoints[nid]; ep != nil {
				return ep.IP
			}
		}
	}
	return netip.Addr{}
}

// addEndpoint allocates an address and plugs a veth into the sandbox.
func (m *Manager) addEndpoint(c *Container, n *Network, cfg *EndpointConfig) (err error) {
	if n == nil || n.Driver != "bridge" {
		return nil
	}
	if cfg == nil {
		cfg = &EndpointConfig{}
	}
	ep := &Endpoint{ID: newID(), Aliases: slices.Clone(cfg.Aliases)}
	ep.HostIf = "veth" + ep.ID[:7]
	if ep.IP, err = n.Pool.Allocate(ep.ID, cfg.IPv4); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			n.Pool.Release(ep.IP)
		}
	}()
	if n.Pool6 != nil {
		if ep.IP6, err = n.Pool6.Allocate(ep.ID, cfg.IPv6); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				n.Pool6.Release(ep.IP6)
			}
		}()
	}
	ep.MAC = cfg.MAC
	if ep.MAC == "" {
		a := ep.IP.As4()
		ep.MAC = net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}.String()
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return errdefs.Invalidf("invalid MAC address: %s", ep.MAC)
	}
	if ep.IfName, err = bridge.NextIfName(c.Sandbox.NSPath); err != nil {
		return err
	}
	var gw, gw6 netip.Addr
	if c.Sandbox.GatewayNet == "" && m.gatewayNetwork(c) == n.ID {
		gw = n.Pool.Gateway
		if n.Pool6 != nil {
			gw6 = n.Pool6.Gateway
		}
	}
	opts, _ := parseBridgeOptions(n.Options)
	bep := bridge.Endpoint{
		HostIfName: ep.HostIf, IfName: ep.IfName, Bridge: n.Bridge,
		Addr: netip.PrefixFrom(ep.IP, n.Pool.Subnet.Bits()), Gateway: gw, MAC: mac, MTU: opts.MTU, Gateway6: gw6,
	}
	if ep.IP6.IsValid() {
		bep.Addr6 = netip.PrefixFrom(ep.IP6, n.Pool6.Subnet.Bits())
	}
	for _, ll := range cfg.LinkLocal {
		bits := 64
		if ll.Is4() {
			bits = 16 // 169.254.0.0/16
		}
		bep.LinkLocal = append(bep.LinkLocal, netip.PrefixFrom(ll, bits))
	}
	if err := bridge.AddEndpoint(c.Sandbox.NSPath, bep); err != nil {
		return err
	}
	if err := m.saveNetwork(n); err != nil {
		bridge.Delete(ep.HostIf)
		return err
	}
	c.Sandbox.Endpoints[n.ID] = ep
	if gw.IsValid() {
		c.Sandbox.GatewayNet = n.ID
	}
	return nil
}

// gatewayNetwork is the network whose gateway is the container's default
// route, as dockerd chooses it: the first network in order that is not
// internal, else the first (an internal network's gateway still gets the
// route, though nothing leaves through it).
func (m *Manager) gatewayNetwork(c *Container) string {
	ids := m.order(c)
	for _, id := range ids {
		if n := m.networks[id]; n != nil && n.Driver == "bridge" && !n.Internal {
			return id
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func (m *Manager) removeEndpoint(c *Container, n *Network, ep *Endpoint) error {
	err := bridge.Delete(ep.HostIf)
	n.Pool.Release(ep.IP)
	if n.Pool6 != nil && ep.IP6.IsValid() {
		n.Pool6.Release(ep.IP6)
	}
	delete(c.Sandbox.Endpoints, n.ID)
	if c.Sandbox.GatewayNet == n.ID {
		c.Sandbox.GatewayNet = ""
	}
	return errors.Join(err, m.saveNetwork(n))
}

// Teardown releases a stopped container's sandbox.
func (m *Manager) Teardown(ctx context.Context, containerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil || c.Sandbox == nil {
		return nil
	}
	return m.releaseLocked(c)
}

// releaseLocked undoes Setup: rules, ports, veths, addresses, namespace.
func (m *Manager) releaseLocked(c *Container) error {
	errs := []error{m.table.RemoveOwner("ctr:" + c.ID), m.table6.RemoveOwner("ctr:" + c.ID)}
	m.stopProxies(c.ID)
	m.ports.Release(c.ID)
	// The veths are not deleted on this path: deleting a veth waits for the
	// kernel's RCU grace periods (15-30 ms here, on the exit path of every
	// container). Dropping the namespace's last reference usually destroys
	// its veth ends, and with them their peers on the bridge. But sockets
	// the container left behind (TIME_WAIT, orphans retrying a FIN) keep
	// the namespace, and so the veth, for minutes; so the host ends are
	// also deleted in the background, where the wait costs nobody. Host
	// names are random per endpoint, so a quick restart cannot clash with
	// one still going.
	var hostIfs []string
	for id, ep := range c.Sandbox.Endpoints {
		if n := m.networks[id]; n != nil {
			n.Pool.Release(ep.IP)
			if n.Pool6 != nil && ep.IP6.IsValid() {
				n.Pool6.Release(ep.IP6)
			}
			errs = append(errs, m.saveNetwork(n))
		}
		hostIfs = append(hostIfs, ep.HostIf)
		delete(c.Sandbox.Endpoints, id)
	}
	errs = append(errs, bridge.DeleteNetNS(c.Sandbox.NSPath))
	if len(hostIfs) > 0 {
		m.reaping.Add(1)
		go func() {
			defer m.reaping.Done()
			for _, h := range hostIfs {
				if err := bridge.Delete(h); err != nil {
					m.log.Debug("delete released veth", "veth", h, "err", err)
				}
			}
		}()
	}
	c.Sandbox = nil
	errs = append(errs, m.saveContainer(c))
	return errors.Join(errs...)
}

// restoreContainers keeps the sandboxes whose namespace is still mounted
// (containers that kept running) and re-installs their port rules, which
// went with the recreated table. The daemon calls Teardown for containers
// it finds stopped.
func (m *Manager) restoreContainers(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.ctrs {
		if c.Sandbox == nil {
			continue
		}
		if _, err := os.Stat(c.Sandbox.NSPath); err != nil {
			m.releaseLocked(c)
			continue
		}
		m.ports.Reserve(c.ID, c.Sandbox.Ports)
		primary := m.primaryEndpoint(c)
		if primary == nil {
			continue
		}
		if err := m.addPortRules(c, primary); err != nil {
			m.log.Warn("restore port rules", "container", c.ID, "err", err)
		}
		if err := m.startProxies(c, primary); err != nil {
			m.log.Warn("restore IPv6 port proxies", "container", c.ID, "err", err)
		}
	}
	m.sweepNetNS()
}

// sweepNetNS removes namespaces no sandbox record owns (a setup cut short
// by the daemon's exit); unmounting the last reference frees its veths.
func (m *Manager) sweepNetNS() {
	entries, _ := os.ReadDir(m.nsDir())
	for _, e := range entries {
		if c := m.ctrs[e.Name()]; c != nil && c.Sandbox != nil {
			continue
		}
		if err := bridge.DeleteNetNS(m.NetNSPath(e.Name())); err != nil {
			m.log.Warn("remove stale netns", "name", e.Name(), "err", err)
		}
	}
}

// Settings renders a container's NetworkSettings parts: the Networks map
// (keyed by network name), Ports and the sandbox path.
func (m *Manager) Settings(containerID string, exposed network.PortSet) (map[string]*network.EndpointSettings, network.PortMap, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil {
		return nil, nil, ""
	}
	nets := map[string]*network.EndpointSettings{}
	var ports network.PortMap
	key := ""
	for id, cfg := range c.Networks {
		n := m.networks[id]
		if n == nil {
			continue
		}
		es := &network.EndpointSettings{NetworkID: n.ID, Aliases: slices.Clone(cfg.Aliases), DNSNames: nil, Links: slices.Clone(cfg.Links)}
		if cfg.IPv4.IsValid() || cfg.IPv6.IsValid() || len(cfg.LinkLocal) > 0 {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: cfg.IPv4, IPv6Address: cfg.IPv6, LinkLocalIPs: slices.Clone(cfg.LinkLocal)}
		}
		if c.Sandbox != nil {
			if ep := c.Sandbox.Endpoints[id]; ep != nil {
				es.EndpointID, es.IPAddress, es.Gateway = ep.ID, ep.IP, n.Pool.Gateway
				es.IPPrefixLen, es.MacAddress = n.Pool.Subnet.Bits(), mustMAC(ep.MAC)
				if ep.IP6.IsValid() && n.Pool6 != nil {
					es.IPv6Gateway, es.GlobalIPv6Address, es.GlobalIPv6PrefixLen = n.Pool6.Gateway, ep.IP6, n.Pool6.Subnet.Bits()
				}
				if !n.Default {
					es.DNSNames = append([]string{c.Name, c.ID[:min(12, len(c.ID))]}, ep.Aliases...)
				}
			}
		}
		nets[n.Name] = es
	}
	if c.Sandbox != nil {
		ports = portmap.PortMap(c.Sandbox.Ports, exposed)
		key = c.Sandbox.NSPath
	}
	return nets, ports, key
}

// HostGateway is the address "host-gateway" in --add-host stands for: the
// default bridge's gateway, like dockerd.
func (m *Manager) HostGateway() (netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.byName("bridge")
	if n == nil || n.Pool == nil {
		return netip.Addr{}, fmt.Errorf("no default bridge network")
	}
	return n.Pool.Gateway, nil
}
