package network

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/moby/moby/api/types/network"
)

// Network is one network's persisted record.
type Network struct {
	ID         string
	Name       string
	Driver     string // bridge, host or null
	Created    time.Time
	Bridge     string `json:",omitempty"`
	Internal   bool
	Attachable bool
	Predefined bool // bridge, host, none: cannot be removed
	Default    bool // the default bridge: no DNS, legacy links
	Options    map[string]string
	Labels     map[string]string
	Pool       *ipam.Pool `json:",omitempty"`
	// Pool6 is the IPv6 pool of a network made with EnableIPv6.
	Pool6 *ipam.Pool `json:",omitempty"`
	// IPAMConfig is what inspect shows (see poolFor); records of older
	// daemons have none and show their pool.
	IPAMConfig []network.IPAMConfig `json:",omitempty"`
	// UserBridge: the bridge named by com.docker.network.bridge.name
	// existed before the network (docker0, a bridge of the admin's): like
	// dockerd, Berth uses it but never deletes it, only the gateway
	// address it added.
	UserBridge bool `json:",omitempty"`
}

func (m *Manager) byName(name string) *Network {
	for _, n := range m.networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// find resolves a full ID, a name, or a unique ID prefix, like dockerd.
func (m *Manager) find(ref string) (*Network, error) {
	if n, ok := m.networks[ref]; ok {
		return n, nil
	}
	if n := m.byName(ref); n != nil {
		return n, nil
	}
	var match []*Network
	for id, n := range m.networks {
		if ref != "" && strings.HasPrefix(id, ref) {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, errdefs.NotFoundf("network %s not found", ref)
	}
	return nil, errdefs.Invalidf("network %s is ambiguous (%d matches found based on ID prefix)", ref, len(match))
}

// Resolve returns a network's ID and name (for validating --network).
func (m *Manager) Resolve(ref string) (id, name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(ref)
	if err != nil {
		return "", "", err
	}
	return n.ID, n.Name, nil
}

// Create makes a user-defined bridge network. Requests are judged as
// dockerd judges them: the predefined drivers and swarm scopes are refused
// with its words, driver options are parsed as its bridge driver parses
// them, and a subnet given with a host address (10.1.2.3/24) is accepted
// and shown as given, as dockerd 20.10 does (API 1.44 and later refuse it
// before this, in the API layer, as dockerd 25 and later do).
func (m *Manager) Create(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if req.Name == "" {
		return network.CreateResponse{}, errdefs.Invalidf("invalid name: name is empty")
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	switch req.Scope {
	case "", "local":
	case "swarm":
		return network.CreateResponse{}, errdefs.Forbidden(errorString("cannot create a swarm scoped network when swarm is not active"))
	default:
		return network.CreateResponse{}, errdefs.Unavailable(errorString(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`))
	}
	switch req.Driver {
	case "bridge":
	case "host", "null":
		return network.CreateResponse{}, errdefs.Forbidden(errorString(fmt.Sprintf("only one instance of %q network is allowed", req.Driver)))
	default:
		return network.CreateResponse{}, errdefs.NotFoundf("plugin %q not found", req.Driver)
	}
	if req.Ingress {
		return network.CreateResponse{}, errdefs.Forbidden(errorString("Ingress network can only be global scope network"))
	}
	if _, err := parseBridgeOptions(req.Options); err != nil {
		return network.CreateResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName(req.Name) != nil {
		return network.CreateResponse{}, errdefs.Conflictf("network with name %s already exists", req.Name)
	}
	v4, v6, err := splitIPAM(req.IPAM)
	if err != nil {
		return network.CreateResponse{}, err
	}
	pool, shown, err := m.poolFor(req.IPAM, v4)
	if err != nil {
		return network.CreateResponse{}, err
	}
	var pool6 *ipam.Pool
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		if pool6, err = m.pool6For(v6); err != nil {
			return network.CreateResponse{}, err
		}
		shown = append(shown, v6...)
	}
	n := &Network{
		ID: newID(), Name: req.Name, Driver: "bridge", Created: time.Now(), Internal: req.Internal,
		Attachable: req.Attachable, Options: maps.Clone(req.Options), Labels: maps.Clone(req.Labels), Pool: pool,
		Pool6: pool6, IPAMConfig: shown,
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Bridge = n.Options[optBridgeName]
	if n.Bridge == "" {
		n.Bridge = "br-" + n.ID[:12]
	} else if len(n.Bridge) > 15 {
		return network.CreateResponse{}, errdefs.Invalidf("invalid bridge name %s: too long", n.Bridge)
	}
	for _, o := range m.networks {
		if o.Bridge == n.Bridge {
			return network.CreateResponse{}, errdefs.Conflictf("bridge name %s is already used by network %s", n.Bridge, o.Name)
		}
	}
	n.UserBridge = n.Options[optBridgeName] != "" && bridge.Exists(n.Bridge)
	if err := m.activate(ctx, n); err != nil {
		m.deactivate(n)
		return network.CreateResponse{}, err
	}
	if err := m.saveNetwork(n); err != nil {
		m.deactivate(n)
		return network.CreateResponse{}, err
	}
	m.networks[n.ID] = n
	return network.CreateResponse{ID: n.ID}, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// errPoolOverlap is dockerd's answer (403) to a subnet that overlaps
// another network's; clients match on its text.
var errPoolOverlap = errdefs.Forbidden(errorString("invalid pool request: Pool overlaps with other one on this address space"))

// poolFor validates --subnet/--gateway/--ip-range, refusing overlaps with
// other networks, or picks a free subnet. shown is the IPAM config inspect
// reports: what was asked (the subnet as written, the gateway only when
// given), or the chosen subnet and gateway, as dockerd reports them.
func (m *Manager) poolFor(cfg *network.IPAM, v4 []network.IPAMConfig) (pool *ipam.Pool, shown []network.IPAMConfig, err error) {
	if cfg != nil && cfg.Driver != "" && cfg.Driver != "default" {
		return nil, nil, errdefs.NotFoundf("plugin %q not found", cfg.Driver)
	}
	if len(v4) == 0 {
		pool, err = m.autoPool("")
		if err != nil {
			return nil, nil, err
		}
		return pool, []network.IPAMConfig{{Subnet: pool.Subnet, Gateway: pool.Gateway}}, nil
	}
	if len(v4) > 1 {
		return nil, nil, errdefs.NotImplemented(errorString("only one IPv4 subnet per network is supported"))
	}
	c := v4[0]
	if !c.Subnet.IsValid() {
		if c.Gateway.IsValid() || c.IPRange.IsValid() {
			return nil, nil, errdefs.Invalidf("invalid pool request: gateway or ip-range given without a subnet")
		}
		pool, err = m.autoPool("")
		if err != nil {
			return nil, nil, err
		}
		return pool, []network.IPAMConfig{{Subnet: pool.Subnet, Gateway: pool.Gateway}}, nil
	}
	for _, o := range m.networks {
		if o.Pool != nil && o.Pool.Subnet.Overlaps(c.Subnet.Masked()) {
			return nil, nil, errPoolOverlap
		}
	}
	pool, err = ipam.NewPool(c.Subnet.Masked(), c.Gateway, c.IPRange)
	if err != nil {
		return nil, nil, err
	}
	return pool, []network.IPAMConfig{{Subnet: c.Subnet, Gateway: c.Gateway, IPRange: c.IPRange, AuxAddress: c.AuxAddress}}, nil
}

// splitIPAM sorts the IPAM entries by family (an entry without a subnet
// counts as IPv4, as its gateway or range says nothing else).
func splitIPAM(cfg *network.IPAM) (v4, v6 []network.IPAMConfig, err error) {
	if cfg == nil {
		return nil, nil, nil
	}
	for _, c := range cfg.Config {
		if c.Subnet.IsValid() && c.Subnet.Addr().Is6() {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	if len(v6) > 1 {
		return nil, nil, errdefs.NotImplemented(errorString("only one IPv6 subnet per network is supported"))
	}
	return v4, v6, nil
}

// pool6For makes the IPv6 pool of an EnableIPv6 network. Like dockerd
// 20.10 there are no default IPv6 pools: a subnet must be given.
func (m *Manager) pool6For(v6 []network.IPAMConfig) (*ipam.Pool, error) {
	if len(v6) == 0 {
		return nil, errdefs.NotFoundf("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
	}
	c := v6[0]
	for _, o := range m.networks {
		if o.Pool6 != nil && o.Pool6.Subnet.Overlaps(c.Subnet.Masked()) {
			return nil, errPoolOverlap
		}
	}
	return ipam.NewPool(c.Subnet.Masked(), c.Gateway, c.IPRange)
}

// Remove deletes a user-defined network without running endpoints.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(ref)
	if err != nil {
		return err
	}
	if n.Predefined {
		return errdefs.Forbidden(errorString(n.Name + " is a pre-defined network and cannot be removed"))
	}
	if len(m.endpointsOn(n.ID)) > 0 {
		return errdefs.Conflictf("error while removing network: network %s has active endpoints", n.Name)
	}
	return m.removeLocked(n)
}

func (m *Manager) removeLocked(n *Network) error {
	if err := m.deactivate(n); err != nil {
		return err
	}
	delete(m.networks, n.ID)
	return removeFile(m.netDir(), n.ID+".json")
}

// Prune removes user-defined networks that no container refers to and that
// keep(n) accepts (the filters). It returns the removed names.
func (m *Manager) Prune(ctx context.Context, keep func(network.Inspect) bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	used := map[string]bool{}
	for _, c := range m.ctrs {
		for id := range c.Networks {
			used[id] = true
		}
	}
	var out []string
	for _, n := range m.sorted() {
		if n.Predefined || used[n.ID] || len(m.endpointsOn(n.ID)) > 0 || (keep != nil && !keep(m.inspect(n))) {
			continue
		}
		if err := m.removeLocked(n); err != nil {
			return out, err
		}
		out = append(out, n.Name)
	}
	return out, nil
}

func (m *Manager) sorted() []*Network {
	out := slices.Collect(maps.Values(m.networks))
	slices.SortFunc(out, func(a, b *Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Inspect renders one network like dockerd.
func (m *Manager) Inspect(ref string) (*network.Inspect, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.find(ref)
	if err != nil {
		return nil, err
	}
	in := m.inspect(n)
	return &in, nil
}

// List renders every network, sorted by name.
func (m *Manager) List() []network.Inspect {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []network.Inspect
	for _, n := range m.sorted() {
		out = append(out, m.inspect(n))
	}
	return out
}

func (m *Manager) inspect(n *Network) network.Inspect {
	in := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: n.Driver == "bridge", EnableIPv6: n.Pool6 != nil,
			IPAM: network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}}, Internal: n.Internal, Attachable: n.Attachable,
			Options: maps.Clone(n.Options), Labels: maps.Clone(n.Labels),
		},
		Containers: map[string]network.EndpointResource{},
	}
	if in.Options == nil {
		in.Options = map[string]string{}
	}
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	switch {
	case n.IPAMConfig != nil:
		in.IPAM.Config = slices.Clone(n.IPAMConfig)
	case n.Pool != nil:
		in.IPAM.Config = append(in.IPAM.Config, network.IPAMConfig{Subnet: n.Pool.Subnet, Gateway: n.Pool.Gateway, IPRange: n.Pool.Range})
	}
	for _, e := range m.endpointsOn(n.ID) {
		in.Containers[e.ctr.ID] = network.EndpointResource{
			Name: e.ctr.Name, EndpointID: e.ep.ID, MacAddress: mustMAC(e.ep.MAC),
			IPv4Address: netip.PrefixFrom(e.ep.IP, n.Pool.Subnet.Bits()),
		}
		if e.ep.IP6.IsValid() && n.Pool6 != nil {
			r := in.Containers[e.ctr.ID]
			r.IPv6Address = netip.PrefixFrom(e.ep.IP6, n.Pool6.Subnet.Bits())
			in.Containers[e.ctr.ID] = r
		}
	}
	return in
}
