// Package ipam hands out IPv4 addresses from a network's subnet and picks
// subnets for new networks that collide neither with the host's routes nor
// with other networks. A Pool is plain data so its owner persists it as JSON
// together with the network record (one file per network, written atomically).
package ipam

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/network"
)

// Pool is one network's address space of one family (IPv4, or IPv6 for
// networks with EnableIPv6).
type Pool struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Range limits dynamic allocation (--ip-range); zero means the subnet.
	Range netip.Prefix `json:",omitzero"`
	// Allocated maps an address to its owner (an endpoint ID).
	Allocated map[netip.Addr]string
}

// NewPool validates subnet, gateway and range and reserves the gateway.
// A zero gateway means the subnet's first host address.
func NewPool(subnet netip.Prefix, gateway netip.Addr, ipRange netip.Prefix) (*Pool, error) {
	if !subnet.IsValid() {
		return nil, errdefs.Invalidf("invalid subnet %s", subnet)
	}
	if subnet.Bits() > subnet.Addr().BitLen()-2 {
		return nil, errdefs.Invalidf("invalid subnet %s: too small", subnet)
	}
	subnet = subnet.Masked()
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	if gateway.Is4In6() || !subnet.Contains(gateway) {
		return nil, errdefs.Invalidf("no matching subnet for gateway %s", gateway)
	}
	if ipRange.IsValid() {
		if !subnet.Contains(ipRange.Addr()) || ipRange.Bits() < subnet.Bits() {
			return nil, errdefs.Invalidf("invalid ip-range %s: not within subnet %s", ipRange, subnet)
		}
		ipRange = ipRange.Masked()
	}
	p := &Pool{Subnet: subnet, Gateway: gateway, Range: ipRange, Allocated: map[netip.Addr]string{}}
	p.Allocated[gateway] = "gateway"
	return p, nil
}

// ErrExhausted is returned when no address is left.
var ErrExhausted = errors.New("no available IPv4 addresses on this network's address pools")

// Allocate reserves want for owner, or the first free address when want is
// zero. The network and broadcast addresses are never handed out.
func (p *Pool) Allocate(owner string, want netip.Addr) (netip.Addr, error) {
	if p.Allocated == nil {
		p.Allocated = map[netip.Addr]string{}
	}
	if want.IsValid() {
		if !p.Subnet.Contains(want) || !p.usable(want) {
			return netip.Addr{}, errdefs.Invalidf("invalid address %s: it does not belong to any of this network's subnets", want)
		}
		if o, ok := p.Allocated[want]; ok && o != owner {
			return netip.Addr{}, errdefs.Conflictf("Address already in use")
		}
		p.Allocated[want] = owner
		return want, nil
	}
	r := p.Subnet
	if p.Range.IsValid() {
		r = p.Range
	}
	for a := r.Addr(); r.Contains(a); a = a.Next() {
		if _, used := p.Allocated[a]; used || !p.usable(a) {
			continue
		}
		p.Allocated[a] = owner
		return a, nil
	}
	return netip.Addr{}, errdefs.Unavailable(ErrExhausted)
}

// usable excludes the subnet's network (and IPv4 broadcast) address.
func (p *Pool) usable(a netip.Addr) bool {
	return a != p.Subnet.Addr() && (a.Is6() || a != Broadcast(p.Subnet))
}

// Release frees a; releasing a free address is a no-op.
func (p *Pool) Release(a netip.Addr) {
	if a != p.Gateway {
		delete(p.Allocated, a)
	}
}

// InUse reports the addresses held by endpoints (not the gateway).
func (p *Pool) InUse() int {
	n := 0
	for _, o := range p.Allocated {
		if o != "gateway" {
			n++
		}
	}
	return n
}

// Broadcast is the last address of an IPv4 prefix.
func Broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Overlaps reports whether two prefixes share any address.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// Candidates are tried in order for networks without --subnet, like
// dockerd's default address pools: 172.17-31/16, 192.168.x/20, then 10.x/24.
func Candidates() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	for i := 0; i < 256; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 210, byte(i), 0}), 24))
	}
	return out
}

// Choose returns the first candidate overlapping none of used (host routes
// and other networks' subnets).
func Choose(candidates, used []netip.Prefix) (netip.Prefix, error) {
	for _, c := range candidates {
		if !slices.ContainsFunc(used, func(u netip.Prefix) bool { return u.IsValid() && u.Overlaps(c) }) {
			return c, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
}

// Validate checks an IPAM request as dockerd 25 and later do before
// anything else (API 1.44 and later; an invalid config is a 400 listing
// every problem): subnets without host bits, ranges inside their subnet,
// gateways and auxiliary addresses of the subnet's family inside it.
// IPv6 entries are skipped unless IPv6 is enabled, as dockerd does.
func Validate(cfg *network.IPAM, enableIPv6 bool) error {
	if cfg == nil {
		return nil
	}
	var problems []string
	for _, c := range cfg.Config {
		if !c.Subnet.IsValid() || (c.Subnet.Addr().Is6() && !enableIPv6) {
			continue
		}
		fam := family(c.Subnet.Addr())
		if c.Subnet != c.Subnet.Masked() {
			problems = append(problems, fmt.Sprintf("invalid subnet %s: it should be %s", c.Subnet, c.Subnet.Masked()))
		}
		if r := c.IPRange; r.IsValid() {
			switch {
			case family(r.Addr()) != fam:
				problems = append(problems, fmt.Sprintf("invalid ip-range %s: parent subnet is an %s block", r, fam))
			default:
				if r.Bits() < c.Subnet.Bits() {
					problems = append(problems, fmt.Sprintf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", r, c.Subnet))
				}
				if r != r.Masked() {
					problems = append(problems, fmt.Sprintf("invalid ip-range %s: it should be %s", r, r.Masked()))
				}
				if !c.Subnet.Overlaps(r) {
					problems = append(problems, fmt.Sprintf("invalid ip-range %s: parent subnet %s doesn't contain ip-range", r, c.Subnet))
				}
			}
		}
		// what names the address: "gateway 10.0.0.1", "auxiliary address host1".
		addr := func(what string, a netip.Addr) {
			switch {
			case !a.IsValid():
			case family(a) != fam:
				problems = append(problems, fmt.Sprintf("invalid %s: parent subnet is an %s block", what, fam))
			case !c.Subnet.Contains(a):
				problems = append(problems, fmt.Sprintf("invalid %s: parent subnet %s doesn't contain this address", what, c.Subnet))
			}
		}
		addr("gateway "+c.Gateway.String(), c.Gateway)
		for _, name := range slices.Sorted(maps.Keys(c.AuxAddress)) {
			addr("auxiliary address "+name, c.AuxAddress[name])
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errdefs.Invalidf("invalid network config:\n%s", problems[0])
	}
	return errdefs.Invalidf("invalid network config:\n* %s", strings.Join(problems, "\n* "))
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
