package compose

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ports maps ports (every form compose-go accepts, ranges already expanded
// by it) and expose into ExposedPorts and PortBindings.
func ports(s types.ServiceConfig) (network.PortSet, network.PortMap, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", pc.Target, proto))
		if err != nil {
			return nil, nil, fmt.Errorf("invalid port %d/%s: %w", pc.Target, proto, err)
		}
		exposed[port] = struct{}{}
		b := network.PortBinding{HostPort: pc.Published}
		if pc.HostIP != "" {
			ip, err := netip.ParseAddr(pc.HostIP)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid host IP %q", pc.HostIP)
			}
			b.HostIP = ip
		}
		bindings[port] = append(bindings[port], b)
	}
	for _, e := range s.Expose {
		spec := e
		if !strings.Contains(spec, "/") {
			spec += "/tcp"
		}
		pr, err := network.ParsePortRange(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid expose %q: %w", e, err)
		}
		for port := range pr.All() {
			exposed[port] = struct{}{}
		}
	}
	if len(exposed) == 0 {
		exposed = nil
	}
	if len(bindings) == 0 {
		bindings = nil
	}
	return exposed, bindings, nil
}

// serviceNetworks lists the service's networks, the primary (highest
// priority, then name) first.
func serviceNetworks(s types.ServiceConfig) []string {
	var names []string
	for n := range s.Networks {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := priority(s.Networks[names[i]]), priority(s.Networks[names[j]])
		if pi != pj {
			return pi > pj
		}
		return names[i] < names[j]
	})
	return names
}

func priority(n *types.ServiceNetworkConfig) int {
	if n == nil {
		return 0
	}
	return n.Priority
}

// networking sets the network mode and the primary endpoint; the other
// networks are returned to be connected after create.
func networking(p *types.Project, s types.ServiceConfig, hc *container.HostConfig) (*network.NetworkingConfig, map[string]*network.EndpointSettings, error) {
	if s.NetworkMode != "" {
		if hc.NetworkMode == "" {
			hc.NetworkMode = container.NetworkMode(s.NetworkMode)
		}
		return nil, nil, nil
	}
	names := serviceNetworks(s)
	if len(names) == 0 {
		hc.NetworkMode = "none"
		return nil, nil, nil
	}
	extra := map[string]*network.EndpointSettings{}
	var nc *network.NetworkingConfig
	for i, key := range names {
		pn, ok := p.Networks[key]
		if !ok {
			return nil, nil, fmt.Errorf("network %q is not declared", key)
		}
		ep, err := endpoint(s, s.Networks[key])
		if err != nil {
			return nil, nil, err
		}
		// Links on user networks live on the endpoint, as docker compose
		// sets them.
		ep.Links = hc.Links
		if i == 0 {
			hc.NetworkMode = container.NetworkMode(pn.Name)
			nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{pn.Name: ep}}
			continue
		}
		extra[pn.Name] = ep
	}
	return nc, extra, nil
}

func endpoint(s types.ServiceConfig, n *types.ServiceNetworkConfig) (*network.EndpointSettings, error) {
	ep := &network.EndpointSettings{Aliases: []string{s.Name}}
	if n == nil {
		return ep, nil
	}
	ep.Aliases = append(ep.Aliases, n.Aliases...)
	ep.DriverOpts = n.DriverOpts
	if n.Ipv4Address != "" || n.Ipv6Address != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{}
		if n.Ipv4Address != "" {
			a, err := netip.ParseAddr(n.Ipv4Address)
			if err != nil {
				return nil, fmt.Errorf("invalid ipv4_address %q", n.Ipv4Address)
			}
			ep.IPAMConfig.IPv4Address = a
		}
		if n.Ipv6Address != "" {
			a, err := netip.ParseAddr(n.Ipv6Address)
			if err != nil {
				return nil, fmt.Errorf("invalid ipv6_address %q", n.Ipv6Address)
			}
			ep.IPAMConfig.IPv6Address = a
		}
	}
	return ep, nil
}
