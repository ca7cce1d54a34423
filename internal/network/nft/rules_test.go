package nft

import (
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
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
