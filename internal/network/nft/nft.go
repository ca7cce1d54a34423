// Package nft owns one nftables table per daemon (family ip) that holds all
// of berthd's packet rules: outbound masquerade per network, DNAT for
// published ports (prerouting for traffic from outside and other
// containers, output for the host itself, so 127.0.0.1:PORT works with
// route_localnet on the bridge), masquerade for localhost and hairpin
// traffic that was DNATed into a bridge, forward accepts and isolation of
// --internal networks. Every rule carries its owner as an nft comment so
// the rules of one network or one endpoint can be removed together;
// deleting the table removes everything berthd installed.
package nft

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Chain names inside the table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
)

// Table is the daemon's nftables table.
type Table struct {
	Name string
	// IPv6 makes the table of family ip6 (the same name may exist in both
	// families): it holds the forward rules of IPv6 networks.
	IPv6 bool
}

func (t *Table) family() nftables.TableFamily {
	if t.IPv6 {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

func (t *Table) table() *nftables.Table {
	return &nftables.Table{Name: t.Name, Family: t.family()}
}

func (t *Table) chains(tb *nftables.Table) map[string]*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return map[string]*nftables.Chain{
		chainPrerouting:  {Name: chainPrerouting, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		chainOutput:      {Name: chainOutput, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		chainPostrouting: {Name: chainPostrouting, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		chainForward:     {Name: chainForward, Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept},
	}
}

// Create (re)creates the table empty with its four base chains. A table
// left by a crashed daemon is replaced.
func (t *Table) Create() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tb := t.table()
	if old, _ := c.ListTableOfFamily(t.Name, t.family()); old != nil {
		c.DelTable(tb)
	}
	c.AddTable(tb)
	for _, ch := range t.chains(tb) {
		c.AddChain(ch)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("create nftables table %s: %w", t.Name, err)
	}
	return nil
}

// Delete removes the table and with it every rule; a missing table is fine.
func (t *Table) Delete() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if old, _ := c.ListTableOfFamily(t.Name, t.family()); old == nil {
		return nil
	}
	c.DelTable(t.table())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", t.Name, err)
	}
	return nil
}

// Rule is one rule to add: chain name, expressions, owner tag.
type Rule struct {
	Chain string
	Owner string
	Exprs []expr.Any
}

// Add appends rules in one transaction: all or none are installed.
func (t *Table) Add(rules ...Rule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tb := t.table()
	chains := t.chains(tb)
	for _, r := range rules {
		c.AddRule(&nftables.Rule{
			Table:    tb,
			Chain:    chains[r.Chain],
			Exprs:    r.Exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Owner),
		})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables rules: %w", err)
	}
	return nil
}

// RemoveOwner deletes every rule tagged owner.
func (t *Table) RemoveOwner(owner string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tb := t.table()
	n := 0
	for _, ch := range t.chains(tb) {
		rules, err := c.GetRules(tb, ch)
		if err != nil {
			return fmt.Errorf("list nftables rules: %w", err)
		}
		for _, r := range rules {
			if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && s == owner {
				if err := c.DelRule(r); err != nil {
					return err
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables rules of %s: %w", owner, err)
	}
	return nil
}

// Count returns how many rules owner has (for tests and diagnostics).
func (t *Table) Count(owner string) (int, error) {
	c, err := nftables.New()
	if err != nil {
		return 0, err
	}
	tb := t.table()
	n := 0
	for _, ch := range t.chains(tb) {
		rules, err := c.GetRules(tb, ch)
		if err != nil {
			return 0, err
		}
		for _, r := range rules {
			if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && s == owner {
				n++
			}
		}
	}
	return n, nil
}

// Exists reports whether the table is present.
func (t *Table) Exists() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	tb, _ := c.ListTableOfFamily(t.Name, t.family())
	return tb != nil
}

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func prefixMatch(offset uint32, p netip.Prefix) []expr.Any {
	m := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	a := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

// prefixMatch6 compares the IPv6 address at offset (8 source, 24
// destination) with p.
func prefixMatch6(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	m := make([]byte, 16)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	a := p.Masked().Addr().As16()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 16},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: m, Xor: make([]byte, 16)},
		&expr.Cmp{Op: op, Register: 1, Data: a[:]},
	}
}

func metaIf(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(name)},
	}
}

func localAddrType(saddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagSADDR: saddr, FlagDADDR: !saddr, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.RTN_LOCAL, 0, 0, 0}},
	}
}

// ipsDstNAT is the conntrack status bit for a DNATed connection
// (IPS_DST_NAT in linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5

func ctStatusDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le32(ipsDstNAT), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

func ctStateEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

// le32 is host (little-endian on our targets) order, which ct keys use.
func le32(v uint32) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
