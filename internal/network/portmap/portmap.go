// Package portmap turns a container's published ports (HostConfig
// PortBindings, and PublishAllPorts over the image's exposed ports) into
// concrete host ports. A host port is free when no other container of
// ours holds it and a socket can be bound to it right now (so services of
// the host itself are respected too); empty host ports get a random port of
// the kernel's ephemeral range.
//
// The two ways a port is busy fail differently, as in dockerd 28: a port
// one of our containers holds is "port is already allocated" (the
// allocator's words), one that another process of the host holds is the
// bind's own error (BindError).
package portmap

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/network"
)

// Mapping is one published port, resolved.
type Mapping struct {
	Proto         string // tcp, udp or sctp
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
}

// Request is one binding before host port resolution.
type Request struct {
	Proto         string
	HostIP        netip.Addr
	HostPortStart uint16 // 0: any
	HostPortEnd   uint16
	ContainerPort uint16
	// ContainerIP is the address the port is forwarded to; the caller sets
	// it, for the words of a BindError.
	ContainerIP netip.Addr
}

// Requests lists what to publish, sorted by container port then protocol.
func Requests(bindings network.PortMap, publishAll bool, exposed network.PortSet) ([]Request, error) {
	var out []Request
	seen := map[network.Port]bool{}
	for p, bs := range bindings {
		seen[p] = true
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			start, end, err := parseHostPort(b.HostPort)
			if err != nil {
				return nil, err
			}
			out = append(out, Request{Proto: string(p.Proto()), HostIP: b.HostIP, HostPortStart: start, HostPortEnd: end, ContainerPort: p.Num()})
		}
	}
	if publishAll {
		for p := range exposed {
			if !seen[p] {
				out = append(out, Request{Proto: string(p.Proto()), ContainerPort: p.Num()})
			}
		}
	}
	slices.SortFunc(out, func(a, b Request) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		return strings.Compare(a.Proto, b.Proto)
	})
	return out, nil
}

// parseHostPort reads "", "8080" or "8000-8010".
func parseHostPort(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	// moby's parser, as the CLI's -p; a protocol has no place here.
	pr, err := network.ParsePortRange(s)
	if err != nil || strings.Contains(s, "/") {
		return 0, 0, errdefs.Invalidf("invalid hostPort: %s", s)
	}
	return pr.Start(), pr.End(), nil
}

// Allocator tracks host ports held by our containers.
type Allocator struct {
	mu    sync.Mutex
	held  map[string]string // "proto/ip/port" -> owner
	probe func(proto string, ip netip.Addr, port uint16) error
}

// NewAllocator returns an allocator that probes the host with real sockets.
func NewAllocator() *Allocator {
	return &Allocator{held: map[string]string{}, probe: canBind}
}

func key(proto string, ip netip.Addr, port uint16) string {
	return fmt.Sprintf("%s/%s/%d", proto, orUnspecified(ip), port)
}

func orUnspecified(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return netip.IPv4Unspecified()
	}
	return ip
}

// taken reports whether (proto, ip, port) clashes with one of ours, and
// with which held address: an unspecified address clashes with every
// address of its family and they with it (0.0.0.0 and [::] do not clash:
// dockerd 28 holds both for one binding).
func (a *Allocator) taken(proto string, ip netip.Addr, port uint16) (netip.Addr, bool) {
	ip = orUnspecified(ip)
	if _, ok := a.held[key(proto, ip, port)]; ok {
		return ip, true
	}
	if !ip.IsUnspecified() {
		unspec := unspecifiedOf(ip)
		_, ok := a.held[key(proto, unspec, port)]
		return unspec, ok
	}
	prefix, suffix := proto+"/", "/"+strconv.Itoa(int(port))
	var found []netip.Addr
	for k := range a.held {
		if strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) {
			held, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(k, prefix), suffix))
			if err == nil && held.Is4() == ip.Is4() {
				found = append(found, held)
			}
		}
	}
	if len(found) == 0 {
		return netip.Addr{}, false
	}
	// The same answer every time, though the map has no order.
	return slices.MinFunc(found, netip.Addr.Compare), true
}

// unspecifiedOf is 0.0.0.0 or :: for ip's family.
func unspecifiedOf(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// Allocate resolves every request for owner; on error nothing stays held.
// Adjacent requests that differ only in their host address (as Expand
// leaves 0.0.0.0 and :: of one binding) get one host port free for all of
// them, as dockerd 28 allocates the pair.
func (a *Allocator) Allocate(owner string, reqs []Request) ([]Mapping, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Mapping
	for i := 0; i < len(reqs); {
		j := i + 1
		for j < len(reqs) && samePort(reqs[i], reqs[j]) {
			j++
		}
		group := reqs[i:j]
		port, err := a.pick(group)
		if err != nil {
			a.releaseLocked(owner)
			return nil, err
		}
		for _, r := range group {
			a.held[key(r.Proto, r.HostIP, port)] = owner
			out = append(out, Mapping{Proto: r.Proto, HostIP: r.HostIP, HostPort: port, ContainerPort: r.ContainerPort})
		}
		i = j
	}
	return out, nil
}

// samePort reports whether a and b differ in their host address alone
// (moby's needSamePort).
func samePort(a, b Request) bool {
	return a.Proto == b.Proto && a.ContainerPort == b.ContainerPort &&
		a.HostPortStart == b.HostPortStart && a.HostPortEnd == b.HostPortEnd &&
		orUnspecified(a.HostIP) != orUnspecified(b.HostIP)
}

// Reserve marks mappings restored from disk as held by owner.
func (a *Allocator) Reserve(owner string, ms []Mapping) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range ms {
		a.held[key(m.Proto, m.HostIP, m.HostPort)] = owner
	}
}

// BindError is a host port that another process of the host holds (or
// that cannot be bound at all): dockerd 28's "failed to bind host port"
// failure, which names the whole binding, container side included.
type BindError struct {
	Req  Request
	Port uint16 // the port tried, within Req's range
	Err  error  // the bind's errno
}

func (e *BindError) Error() string {
	r := e.Req
	if r.HostPortEnd != r.HostPortStart {
		return fmt.Sprintf("failed to bind host port %d for %s: %v", e.Port, r.binding(), e.Err)
	}
	return fmt.Sprintf("failed to bind host port for %s: %v", r.binding(), e.Err)
}

// binding prints r as dockerd prints a port binding:
// HOSTIP:HOSTPORT[-END]:CONTAINERIP:PORT/proto, IPv6 addresses bracketed
// and an unset container address left out.
func (r Request) binding() string {
	var b strings.Builder
	addr := func(ip netip.Addr) {
		if ip.Is6() {
			b.WriteString("[" + ip.String() + "]:")
		} else {
			b.WriteString(ip.String() + ":")
		}
	}
	addr(orUnspecified(r.HostIP))
	b.WriteString(strconv.Itoa(int(r.HostPortStart)))
	if r.HostPortEnd != r.HostPortStart {
		b.WriteString("-" + strconv.Itoa(int(r.HostPortEnd)))
	}
	b.WriteString(":")
	if r.ContainerIP.IsValid() {
		addr(r.ContainerIP)
	}
	b.WriteString(strconv.Itoa(int(r.ContainerPort)) + "/" + r.Proto)
	return b.String()
}

func (e *BindError) Unwrap() error { return e.Err }

// pick finds one host port that every request of group (same protocol,
// container port and host port range) can have.
func (a *Allocator) pick(group []Request) (uint16, error) {
	r := group[0]
	// bindErr is the last port of the range another process held.
	var bindErr error
	free := func(p uint16) bool {
		for _, g := range group {
			if _, ok := a.taken(g.Proto, g.HostIP, p); ok {
				return false
			}
		}
		for _, g := range group {
			if err := a.probe(g.Proto, g.HostIP, p); err != nil {
				bindErr = &BindError{Req: g, Port: p, Err: err}
				return false
			}
		}
		return true
	}
	if r.HostPortStart != 0 {
		for p := uint32(r.HostPortStart); p <= uint32(r.HostPortEnd); p++ {
			if free(uint16(p)) {
				return uint16(p), nil
			}
		}
		if bindErr != nil {
			return 0, bindErr
		}
		if r.HostPortStart == r.HostPortEnd {
			for _, g := range group {
				if held, ok := a.taken(g.Proto, g.HostIP, r.HostPortStart); ok {
					// dockerd's words, an IPv6 address unbracketed
					// ("Bind for :::8080 failed").
					return 0, errdefs.Conflictf("Bind for %s:%d failed: port is already allocated", held, r.HostPortStart)
				}
			}
		}
		return 0, errdefs.Conflictf("Bind for %s:%d-%d failed: port is already allocated", orUnspecified(r.HostIP), r.HostPortStart, r.HostPortEnd)
	}
	lo, hi := ephemeralRange()
	start := lo + rand.IntN(hi-lo+1)
	for i := 0; i <= hi-lo; i++ {
		p := uint16(lo + (start-lo+i)%(hi-lo+1))
		if free(p) {
			return p, nil
		}
	}
	return 0, errdefs.Conflictf("Bind for %s:0 failed: no free host port", orUnspecified(r.HostIP))
}

// Release frees every port held by owner.
func (a *Allocator) Release(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(owner)
}

func (a *Allocator) releaseLocked(owner string) {
	for k, o := range a.held {
		if o == owner {
			delete(a.held, k)
		}
	}
}

// canBind tries to listen on the port and returns the bind's errno when
// it cannot (EADDRINUSE: another process holds it); sctp is not probed.
// An IPv6 address is probed IPv6-only, as dockerd binds it, so that
// 0.0.0.0 and :: are separate.
func canBind(proto string, ip netip.Addr, port uint16) error {
	ip = orUnspecified(ip)
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
	family := "4"
	if ip.Is6() {
		family = "6"
	}
	var err error
	switch proto {
	case "tcp":
		var l net.Listener
		if l, err = net.Listen("tcp"+family, addr); err == nil {
			l.Close()
		}
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket("udp"+family, addr); err == nil {
			c.Close()
		}
	}
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// V6Listenable reports whether this network namespace can listen on ::1,
// moby's test for an implicit [::] binding: false where IPv6 is disabled
// (ipv6.disable=1, disable_ipv6=1 on lo) or lo has no ::1.
func V6Listenable() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Expand gives every request without a host address the default one, as
// dockerd 28 does: def when it is a specific address, else (def unset or
// 0.0.0.0) both 0.0.0.0 and ::, the latter only when v6 (the host can
// listen on IPv6). Requests with an address keep it, IPv4 or IPv6 alone.
// The result is in moby's order, so the two halves of a binding are
// adjacent and Allocate gives them one port: exact host ports before
// ranges, then container port, protocol, host ports, host address.
func Expand(reqs []Request, def netip.Addr, v6 bool) []Request {
	out := make([]Request, 0, 2*len(reqs))
	for _, r := range reqs {
		if r.HostIP.IsValid() {
			out = append(out, r)
			continue
		}
		if def.IsValid() && !(def.Is4() && def.IsUnspecified()) {
			r.HostIP = def
			out = append(out, r)
			continue
		}
		r.HostIP = netip.IPv4Unspecified()
		out = append(out, r)
		if v6 {
			r.HostIP = netip.IPv6Unspecified()
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, compareRequests)
	return out
}

func compareRequests(a, b Request) int {
	aRange := a.HostPortStart == 0 || a.HostPortStart != a.HostPortEnd
	bRange := b.HostPortStart == 0 || b.HostPortStart != b.HostPortEnd
	if aRange != bRange {
		if aRange {
			return 1
		}
		return -1
	}
	protoRank := func(p string) int { return map[string]int{"tcp": 0, "udp": 1, "sctp": 2}[p] }
	switch {
	case a.ContainerPort != b.ContainerPort:
		return int(a.ContainerPort) - int(b.ContainerPort)
	case a.Proto != b.Proto:
		return protoRank(a.Proto) - protoRank(b.Proto)
	case a.HostPortStart != b.HostPortStart:
		return int(a.HostPortStart) - int(b.HostPortStart)
	case a.HostPortEnd != b.HostPortEnd:
		return int(a.HostPortEnd) - int(b.HostPortEnd)
	}
	return a.HostIP.Compare(b.HostIP)
}

// ephemeralRange is the kernel's local port range (32768-60999 if unreadable).
func ephemeralRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo > 0 && hi >= lo {
				return lo, hi
			}
		}
	}
	return 32768, 60999
}

// PortMap renders mappings as NetworkSettings.Ports: every exposed or
// published port appears, published ones with their bindings in mapping
// order (0.0.0.0 before :: for a binding without a host address).
func PortMap(ms []Mapping, exposed network.PortSet) network.PortMap {
	out := network.PortMap{}
	for p := range exposed {
		out[p] = nil
	}
	for _, m := range ms {
		p, ok := network.PortFrom(m.ContainerPort, network.IPProtocol(m.Proto))
		if !ok {
			continue
		}
		ip := m.HostIP
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		out[p] = append(out[p], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(m.HostPort))})
	}
	return out
}
