package nft

import (
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func hasExpr[T expr.Any](r Rule) bool {
	for _, e := range r.Exprs {
		if _, ok := e.(T); ok {
			return true
		}
	}
	return false
}

func TestNetworkRulesInternal(t *testing.T) {
	subnet := netip.MustParsePrefix("10.213.7.0/24")
	open := NetworkRules("net:a", "br-a", subnet, Policy{})
	internal := NetworkRules("net:a", "br-a", subnet, Policy{Internal: true})
	masq := func(rs []Rule) int {
		n := 0
		for _, r := range rs {
			if r.Chain == chainPostrouting && hasExpr[*expr.Masq](r) {
				n++
			}
		}
		return n
	}
	// Internal networks get no outbound masquerade, only the local/hairpin ones.
	if masq(open) != 3 || masq(internal) != 2 {
		t.Fatalf("masquerade rules: open %d internal %d", masq(open), masq(internal))
	}
	drops := 0
	for _, r := range internal {
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictDrop {
				drops++
			}
		}
	}
	if drops != 2 {
		t.Fatalf("internal network drop rules: %d", drops)
	}
}

func TestPortRules(t *testing.T) {
	rs := PortRules("ctr:x", PortMapping{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerIP: netip.MustParseAddr("10.213.7.2"), ContainerPort: 53})
	if len(rs) != 2 || rs[0].Chain != chainPrerouting || rs[1].Chain != chainOutput {
		t.Fatalf("rules %+v", rs)
	}
	var nat *expr.NAT
	var sawHostIP, sawFib bool
	for _, e := range rs[0].Exprs {
		switch v := e.(type) {
		case *expr.NAT:
			nat = v
		case *expr.Cmp:
			if string(v.Data) == string([]byte{127, 0, 0, 1}) {
				sawHostIP = true
			}
		case *expr.Fib:
			sawFib = true
		}
	}
	if nat == nil || nat.Type != expr.NATTypeDestNAT || !sawHostIP || sawFib {
		t.Fatalf("host-IP binding: nat %+v hostIP %v fib %v", nat, sawHostIP, sawFib)
	}
	rs = PortRules("ctr:x", PortMapping{Proto: "tcp", HostPort: 80, ContainerIP: netip.MustParseAddr("10.213.7.2"), ContainerPort: 80})
	if !hasExpr[*expr.Fib](rs[0]) {
		t.Fatal("unspecified host IP must match every local address (fib daddr type local)")
	}
}

// TestPortRules6: a mapping to an IPv6 container address DNATs with the
// IPv6 family to the 16-byte address; its output rule skips ::1 (never
// routed off lo), its prerouting rule has no such test.
func TestPortRules6(t *testing.T) {
	ctr := netip.MustParseAddr("fd00:db8::2")
	rs := PortRules("ctr:x", PortMapping{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerIP: ctr, ContainerPort: 80})
	if len(rs) != 2 || rs[0].Chain != chainPrerouting || rs[1].Chain != chainOutput {
		t.Fatalf("rules %+v", rs)
	}
	loop := netip.IPv6Loopback().As16()
	skipsLoopback := func(r Rule) bool {
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpNeq && string(c.Data) == string(loop[:]) {
				return true
			}
		}
		return false
	}
	ll := netip.MustParseAddr("fe80::").As16()
	for _, r := range rs {
		var skipsLinkLocal bool
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpNeq && string(c.Data) == string(ll[:]) {
				skipsLinkLocal = true
			}
		}
		if !skipsLinkLocal {
			t.Fatalf("%s: no ! saddr fe80::/10", r.Chain)
		}
	}
	if skipsLoopback(rs[0]) || !skipsLoopback(rs[1]) {
		t.Fatalf("::1 test: prerouting %v output %v", skipsLoopback(rs[0]), skipsLoopback(rs[1]))
	}
	for _, r := range rs {
		var nat *expr.NAT
		var addr bool
		for _, e := range r.Exprs {
			switch v := e.(type) {
			case *expr.NAT:
				nat = v
			case *expr.Immediate:
				if string(v.Data) == string(ctr.AsSlice()) {
					addr = true
				}
			}
		}
		if nat == nil || nat.Family != unix.NFPROTO_IPV6 || !addr || !hasExpr[*expr.Fib](r) {
			t.Fatalf("%s: nat %+v address %v", r.Chain, nat, addr)
		}
	}
	// A specific IPv6 host address is matched as the destination.
	host := netip.MustParseAddr("fd00::2")
	rs = PortRules("ctr:x", PortMapping{Proto: "udp", HostIP: host, HostPort: 53, ContainerIP: ctr, ContainerPort: 53})
	h := host.As16()
	var saw bool
	for _, e := range rs[0].Exprs {
		if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpEq && string(c.Data) == string(h[:]) {
			saw = true
		}
	}
	if !saw || hasExpr[*expr.Fib](rs[0]) {
		t.Fatalf("host address binding: %+v", rs[0].Exprs)
	}
	hp := HairpinRules6("net:a", "br-a", netip.MustParsePrefix("fd00:db8::/64"))
	if len(hp) != 1 || hp[0].Chain != chainPostrouting || !hasExpr[*expr.Masq](hp[0]) {
		t.Fatalf("hairpin %+v", hp)
	}
}
