package network

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/moby/moby/api/types/network"
)

// Container is one container's networking record: what it asked for and,
// while it runs, its sandbox.
type Container struct {
	ID      string
	Name    string // without the leading "/"
	Primary string // network ID of the NetworkMode network
	// Networks maps network ID to the requested endpoint settings.
	Networks map[string]*EndpointConfig
	// DNS are the container's --dns servers, which the embedded DNS
	// forwards its queries to instead of the host's.
	DNS []netip.Addr `json:",omitempty"`
	// Links are HostConfig.Links: their aliases resolve for this
	// container alone, as with dockerd's embedded DNS.
	Links   []string `json:",omitempty"`
	Sandbox *Sandbox `json:",omitempty"`
}

// EndpointConfig is what a container asks of one network.
type EndpointConfig struct {
	Aliases []string
	IPv4    netip.Addr `json:",omitzero"`
	IPv6    netip.Addr `json:",omitzero"`
	MAC     string     `json:",omitempty"`
	// Links are the endpoint's own legacy links ("other:alias", from
	// `network connect --link`): DNS aliases for this container on this
	// network alone.
	Links []string `json:",omitempty"`
	// LinkLocal are --link-local-ip addresses.
	LinkLocal []netip.Addr `json:",omitempty"`
}

// Sandbox is a running container's network namespace and what is in it.
type Sandbox struct {
	NSPath    string
	Endpoints map[string]*Endpoint // by network ID
	Ports     []portmap.Mapping
	// GatewayNet is the network whose gateway is the default route.
	GatewayNet string `json:",omitempty"`
}

// Endpoint is a container's interface on one network.
type Endpoint struct {
	ID      string
	HostIf  string
	IfName  string
	IP      netip.Addr
	IP6     netip.Addr `json:",omitzero"` // on IPv6 networks
	MAC     string
	Aliases []string
}

type ctrEndpoint struct {
	ctr *Container
	ep  *Endpoint
}

// endpointsOn lists the live endpoints on a network.
func (m *Manager) endpointsOn(netID string) []ctrEndpoint {
	var out []ctrEndpoint
	for _, c := range m.ctrs {
		if c.Sandbox == nil {
			continue
		}
		if ep := c.Sandbox.Endpoints[netID]; ep != nil {
			out = append(out, ctrEndpoint{c, ep})
		}
	}
	slices.SortFunc(out, func(a, b ctrEndpoint) int { return strings.Compare(a.ctr.Name, b.ctr.Name) })
	return out
}

// Register records the networks a bridge-mode container is created with:
// primary is its NetworkMode ("bridge", "default" or a user network) and
// endpoints the request's EndpointsConfig (keyed by network name or ID).
// Only containers on bridge networks are registered; host, none and
// container: modes have no endpoints of ours.
func (m *Manager) Register(containerID, name, primary string, endpoints map[string]*network.EndpointSettings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if primary == "" || primary == "default" {
		primary = "bridge"
	}
	pn, err := m.find(primary)
	if err != nil {
		return err
	}
	c := &Container{ID: containerID, Name: strings.TrimPrefix(name, "/"), Primary: pn.ID, Networks: map[string]*EndpointConfig{}}
	c.Networks[pn.ID] = &EndpointConfig{}
	for ref, es := range endpoints {
		if ref == "default" {
			ref = "bridge" // docker CLI keys the endpoint by the NetworkMode it sent
		}
		n, err := m.find(ref)
		if err != nil {
			return err
		}
		cfg, err := m.endpointConfig(n, es)
		if err != nil {
			return err
		}
		c.Networks[n.ID] = cfg
	}
	m.ctrs[c.ID] = c
	return m.saveContainer(c)
}

// Registered reports whether the container has a network record whose
// primary network still exists (a default bridge removed by a run with
// --bridge none and made again has a new ID).
func (m *Manager) Registered(containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	// An empty primary is a container disconnected from its first network
	// (docker-compose v1 does that to every container before connecting it
	// again with its aliases): its record stands.
	return c != nil && (c.Primary == "" || m.networks[c.Primary] != nil)
}

// RequestedMAC is the MAC address the container asked for on network
// netRef ("" when it asked for none or is not on it).
func (m *Manager) RequestedMAC(containerID, netRef string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil {
		return ""
	}
	n, err := m.find(netRef)
	if err != nil {
		return ""
	}
	if cfg := c.Networks[n.ID]; cfg != nil {
		return cfg.MAC
	}
	return ""
}

// endpointConfig validates the settings a container asks of network n.
func (m *Manager) endpointConfig(n *Network, es *network.EndpointSettings) (*EndpointConfig, error) {
	cfg := &EndpointConfig{}
	if es == nil {
		return cfg, nil
	}
	if n.Driver != "bridge" {
		return nil, errdefs.Invalidf("container cannot be connected to network %s", n.Name)
	}
	cfg.Aliases = slices.Clone(es.Aliases)
	if len(cfg.Aliases) > 0 && n.Default {
		return nil, errdefs.Invalidf("network-scoped alias is supported only for containers in user defined networks")
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
		ip := es.IPAMConfig.IPv4Address
		if n.Default {
			return nil, errdefs.Invalidf("user specified IP address is supported on user defined networks only")
		}
		if !n.Pool.Subnet.Contains(ip) {
			return nil, errdefs.Invalidf("no configured subnet or ip-range contain the IP address %s", ip)
		}
		cfg.IPv4 = ip
	}
	if es.IPAMConfig != nil && es.IPAMConfig.IPv6Address.IsValid() {
		ip := es.IPAMConfig.IPv6Address
		if n.Default {
			return nil, errdefs.Invalidf("user specified IP address is supported on user defined networks only")
		}
		if n.Pool6 == nil || !n.Pool6.Subnet.Contains(ip) {
			return nil, errdefs.Invalidf("Invalid address %s: It does not belong to any of this network's subnets", ip)
		}
		cfg.IPv6 = ip
	}
	if es.IPAMConfig != nil {
		for _, ip := range es.IPAMConfig.LinkLocalIPs {
			if !ip.IsLinkLocalUnicast() {
				return nil, errdefs.Invalidf("invalid link local IP address: %s", ip)
			}
			cfg.LinkLocal = append(cfg.LinkLocal, ip)
		}
	}
	if len(es.MacAddress) > 0 {
		cfg.MAC = net.HardwareAddr(es.MacAddress).String()
	}
	cfg.Links = slices.Clone(es.Links)
	return cfg, nil
}

// Rename follows a container rename (DNS answers the new name).
func (m *Manager) Rename(containerID, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil {
		return nil
	}
	c.Name = strings.TrimPrefix(newName, "/")
	return m.saveContainer(c)
}

// Forget releases a removed container's sandbox and record.
func (m *Manager) Forget(ctx context.Context, containerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil {
		return nil
	}
	var err error
	if c.Sandbox != nil {
		err = m.releaseLocked(c)
	}
	delete(m.ctrs, containerID)
	return errors.Join(err, removeFile(m.ctrDir(), containerID+".json"))
}

// Connect adds a network to a container; when it runs, the endpoint is
// made at once.
func (m *Manager) Connect(ctx context.Context, containerID, netRef string, es *network.EndpointSettings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctrs[containerID]
	if c == nil {
		return errdefs.Invalidf("container %s is not on a bridge network and cannot be connected", containerID)
	}
	n, err := m.find(netRef)
	if err != nil {
		return err
	}
	if _, ok := c.Networks[n.ID]; ok {
		return errdefs.Forbidden(errorString("endpoint with name " + c.Name + " already exists in network " + n.Name))
	}
	cfg, err := m.endpointConfig(n, es)
	if err != nil {
		return err
	}
	if n.Driver != "bridge" {
		return errdefs.Invalidf("container cannot be disconnected from host network or connected to host network")
	}
	c.Networks[n.ID] = cfg
	if c.Sandbox != nil {
		if err := m.addEndpoint(c, n, cfg); err != nil {
			delete(c.Networks, n.ID)
			return err
		}
	}
	if c.Primary == "" {
		c.Primary = n.ID // the network it was disconnected from, or its first again
	}
	return m.saveContainer(c)
}

// Disconnect removes a network from a container (and its live endpoint).
func (m *Manager) Disconnect(ctx context.Context, containerID, netRef string, force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(netRef)
	if err != nil {
		if force {
			return nil
		}
		return err
	}
	c := m.ctrs[containerID]
	if c == nil || c.Networks[n.ID] == nil {
		if force {
			return nil
		}
		return errdefs.Forbidden(errorString("container " + containerID + " is not connected to network " + n.Name))
	}
	var rerr error
	if c.Sandbox != nil {
		if ep := c.Sandbox.Endpoints[n.ID]; ep != nil {
			rerr = m.removeEndpoint(c, n, ep)
		}
	}
	delete(c.Networks, n.ID)
	if c.Primary == n.ID {
		c.Primary = ""
	}
	return errors.Join(rerr, m.saveContainer(c))
}

func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func mustMAC(s string) network.HardwareAddr {
	hw, _ := net.ParseMAC(s)
	return network.HardwareAddr(hw)
}

// clientUpstreams finds the --dns servers of the container at addr.
func (m *Manager) clientUpstreams(addr netip.Addr) []netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.ctrs {
		if c.Sandbox == nil || len(c.DNS) == 0 {
			continue
		}
		for _, ep := range c.Sandbox.Endpoints {
			if ep.IP == addr {
				out := make([]netip.AddrPort, 0, len(c.DNS))
				for _, a := range c.DNS {
					out = append(out, netip.AddrPortFrom(a, 53))
				}
				return out
			}
		}
	}
	return nil
}

// linkLookupFunc answers what the container asking (by its address on
// netID) sees beyond netID's own names: its link aliases, resolved to the
// linked container's address, then the names of its other networks, as
// dockerd's one resolver per container answers for all of them (a
// container on the default bridge connected to a user network resolves
// that network's names, one on two user networks both's).
func (m *Manager) linkLookupFunc(netID string) func(string, netip.Addr) ([]netip.Addr, bool) {
	return func(name string, client netip.Addr) ([]netip.Addr, bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		base := m.withoutNetworkSuffix(netID, name)
		for _, e := range m.endpointsOn(netID) {
			if e.ep.IP != client {
				continue
			}
			for _, l := range e.ctr.Links {
				target, alias := parseLink(l)
				if strings.EqualFold(alias, base) || strings.EqualFold(target, base) {
					if ip := m.linkIP(e.ctr, target); ip.IsValid() {
						return []netip.Addr{ip}, true
					}
				}
			}
			// An endpoint's own links (network connect --link) answer
			// whichever of the container's networks is asked, as the
			// sandbox's one resolver does in dockerd, with the target's
			// address on the link's network.
			for _, nid := range slices.Sorted(maps.Keys(e.ctr.Networks)) {
				for _, l := range e.ctr.Networks[nid].Links {
					target, alias := parseLink(l)
					if !strings.EqualFold(alias, base) && !strings.EqualFold(target, base) {
						continue
					}
					if ip := m.linkIPOn(nid, target); ip.IsValid() {
						return []netip.Addr{ip}, true
					}
				}
			}
			for _, nid := range m.order(e.ctr) {
				if n := m.networks[nid]; nid == netID || n.Default || e.ctr.Sandbox.Endpoints[nid] == nil {
					continue // the default bridge has no names
				}
				if out := m.lookupOn(nid, name); len(out) > 0 {
					return out, true
				}
			}
		}
		return nil, false
	}
}

// lookupFunc answers DNS for one network from its live endpoints: the
// container's name, its short ID, and its aliases on that network.
func (m *Manager) lookupFunc(netID string) func(string) ([]netip.Addr, bool) {
	return func(name string) ([]netip.Addr, bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		out := m.lookupOn(netID, name)
		return out, len(out) > 0
	}
}

// lookupOn is lookupFunc's answer; m.mu is held.
func (m *Manager) lookupOn(netID, name string) []netip.Addr {
	name = m.withoutNetworkSuffix(netID, name)
	var out []netip.Addr
	for _, e := range m.endpointsOn(netID) {
		names := append([]string{e.ctr.Name, e.ctr.ID[:min(12, len(e.ctr.ID))]}, e.ep.Aliases...)
		if slices.ContainsFunc(names, func(s string) bool { return strings.EqualFold(s, name) }) {
			out = append(out, e.ep.IP)
			if e.ep.IP6.IsValid() {
				out = append(out, e.ep.IP6)
			}
		}
	}
	return out
}

// withoutNetworkSuffix strips ".<network name>" from a query: dockerd's
// embedded DNS answers "web.mynet" as "web" on mynet. m.mu is held.
func (m *Manager) withoutNetworkSuffix(netID, name string) string {
	if n := m.networks[netID]; n != nil {
		if base, ok := strings.CutSuffix(strings.ToLower(name), "."+strings.ToLower(n.Name)); ok && base != "" {
			return base
		}
	}
	return name
}

// ContainerIDs lists the containers that have a network record, so the
// daemon can drop those whose container a crash left half removed.
func (m *Manager) ContainerIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.ctrs))
	for id := range m.ctrs {
		out = append(out, id)
	}
	return out
}
