package api

import (
	"net/netip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// inspectCompat is a container inspect answer with the top-level
// NetworkSettings fields dockerd returns up to API 1.51 (moby's types
// dropped them with 1.52): `docker inspect -f '{{.NetworkSettings.IPAddress}}'`
// is the most common inspect idiom. The outer NetworkSettings shadows the
// embedded one in the JSON encoding.
type inspectCompat struct {
	*container.InspectResponse
	NetworkSettings *legacyNetworkSettings `json:"NetworkSettings"`
}

// legacyNetworkSettings is NetworkSettings in dockerd's field order. The
// address fields describe the endpoint on the default "bridge" network and
// are empty when the container is not on it (or not running), as in
// dockerd; Bridge is empty unless dockerd runs with -b, and berthd's
// endpoints have no hairpin mode, link-local or secondary addresses.
type legacyNetworkSettings struct {
	Bridge                 string
	SandboxID              string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	Ports                  network.PortMap
	SandboxKey             string
	SecondaryIPAddresses   []legacyAddress
	SecondaryIPv6Addresses []legacyAddress
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*network.EndpointSettings
}

type legacyAddress struct {
	Addr      string
	PrefixLen int
}

func withLegacyNetworkSettings(c *container.InspectResponse) any {
	ns := c.NetworkSettings
	if ns == nil {
		return c
	}
	out := &legacyNetworkSettings{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	if ep := ns.Networks[network.NetworkBridge]; ep != nil {
		out.EndpointID, out.Gateway, out.IPAddress = ep.EndpointID, addrString(ep.Gateway), addrString(ep.IPAddress)
		out.IPPrefixLen, out.MacAddress = ep.IPPrefixLen, ep.MacAddress.String()
		out.IPv6Gateway, out.GlobalIPv6Address = addrString(ep.IPv6Gateway), addrString(ep.GlobalIPv6Address)
		out.GlobalIPv6PrefixLen = ep.GlobalIPv6PrefixLen
	}
	return &inspectCompat{InspectResponse: c, NetworkSettings: out}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
