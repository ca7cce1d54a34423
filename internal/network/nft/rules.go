package nft

import (
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Policy is what a network allows beyond its own bridge.
type Policy struct {
	Internal     bool // nothing enters or leaves the bridge
	NoICC        bool // ports of the bridge do not reach each other (enable_icc=false)
	NoMasquerade bool // outbound traffic keeps the container's address (enable_ip_masquerade=false)
}

// NetworkRules are the rules one bridge network needs: masquerade of its
// subnet going anywhere but its own bridge (none when internal or
// masquerading is off), masquerade of DNATed traffic from the host
// (localhost via route_localnet) or from a container to its own network
// (hairpin), and forwarding.
func NetworkRules(owner, bridge string, subnet netip.Prefix, p Policy) []Rule {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	masq := &expr.Masq{}
	rules := []Rule{
		// Host-sourced (e.g. 127.0.0.1) connections DNATed into the bridge:
		// the container must answer to an address it can route back to.
		{chainPostrouting, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), localAddrType(true), []expr.Any{masq})},
		// Hairpin: a container reaching a published port on its own network.
		{chainPostrouting, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), prefixMatch(12, subnet), ctStatusDNAT(), []expr.Any{masq})},
	}
	rules = append(rules, IsolationRules(owner, bridge, p)...)
	if p.Internal {
		return rules
	}
	if !p.NoMasquerade {
		rules = append(rules, Rule{chainPostrouting, owner, join(prefixMatch(12, subnet), metaIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), []expr.Any{masq})})
	}
	return append(rules,
		Rule{chainForward, owner, join(metaIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), []expr.Any{accept})},
		Rule{chainForward, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), ctStateEstablished(), []expr.Any{accept})},
		Rule{chainForward, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), ctStatusDNAT(), []expr.Any{accept})},
	)
}

// IsolationRules are the forward drops of a policy: between the bridge's
// ports without ICC, and in or out of the bridge for an internal network.
// They match interfaces only, so the IPv6 table of a network with
// EnableIPv6 holds them too.
func IsolationRules(owner, bridge string, p Policy) []Rule {
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	var rules []Rule
	if p.NoICC {
		// Bridged frames reach the forward hook through br_netfilter.
		rules = append(rules, Rule{chainForward, owner, join(metaIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), []expr.Any{drop})})
	}
	if p.Internal {
		// --internal: nothing enters or leaves the bridge except between
		// its own ports.
		rules = append(rules,
			Rule{chainForward, owner, join(metaIf(expr.MetaKeyIIFNAME, expr.CmpOpEq, bridge), metaIf(expr.MetaKeyOIFNAME, expr.CmpOpNeq, bridge), []expr.Any{drop})},
			Rule{chainForward, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), metaIf(expr.MetaKeyIIFNAME, expr.CmpOpNeq, bridge), []expr.Any{drop})},
		)
	}
	return rules
}

// PortMapping is one published port.
type PortMapping struct {
	Proto         string     // "tcp" or "udp"
	HostIP        netip.Addr // zero or unspecified = every local address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// PortRules DNATs host port traffic to the container, in prerouting (from
// other hosts and containers) and output (from the host itself). A
// mapping to an IPv6 container address is for the ip6 table: its output
// rule leaves ::1 alone, which the kernel never routes off the loopback
// device (no IPv6 route_localnet); berthd's proxy serves it.
func PortRules(owner string, m PortMapping) []Rule {
	proto := byte(unix.IPPROTO_TCP)
	if m.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	v6 := m.ContainerIP.Is6()
	var match, output []expr.Any
	switch {
	case m.HostIP.IsValid() && !m.HostIP.IsUnspecified() && v6:
		match = prefixMatch6(24, netip.PrefixFrom(m.HostIP, 128), expr.CmpOpEq)
	case m.HostIP.IsValid() && !m.HostIP.IsUnspecified():
		match = prefixMatch(16, netip.PrefixFrom(m.HostIP, 32))
	default:
		match = localAddrType(false)
		if v6 {
			output = prefixMatch6(24, netip.PrefixFrom(netip.IPv6Loopback(), 128), expr.CmpOpNeq)
		}
	}
	family := uint32(unix.NFPROTO_IPV4)
	if v6 {
		family = unix.NFPROTO_IPV6
		// As dockerd's ip6tables DNAT (! -s fe80::/10): a link-local
		// source has no route to the container's network.
		match = join(prefixMatch6(8, netip.MustParsePrefix("fe80::/10"), expr.CmpOpNeq), match)
	}
	ca := m.ContainerIP.AsSlice()
	dnat := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(m.HostPort)},
		&expr.Immediate{Register: 1, Data: ca},
		&expr.Immediate{Register: 2, Data: be16(m.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: family, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
	return []Rule{{chainPrerouting, owner, join(match, dnat)}, {chainOutput, owner, join(match, output, dnat)}}
}

// HairpinRules6 are the ip6 table's rules of an IPv6 network: masquerade
// of a container's connection that a published port DNATed back into its
// own network, so the answer comes back through the host.
func HairpinRules6(owner, bridge string, subnet netip.Prefix) []Rule {
	return []Rule{{chainPostrouting, owner, join(metaIf(expr.MetaKeyOIFNAME, expr.CmpOpEq, bridge), prefixMatch6(8, subnet, expr.CmpOpEq), ctStatusDNAT(), []expr.Any{&expr.Masq{}})}}
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
