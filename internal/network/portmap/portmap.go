// Package portmap turns a container's published ports (HostConfig
// PortBindings, and PublishAllPorts over the image's exposed ports) into
// concrete host ports. A host port is free when no other container of
// ours holds it and a socket can be bound to it right now (so services of
// the host itself are respected too); empty host ports get a random port of
// the kernel's ephemeral range.
package portmap

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	probe func(proto string, ip netip.Addr, port uint16) bool
}

// NewAllocator returns an allocator that probes the host with real sockets.
func NewAllocator() *Allocator {
	return &Allocator{held: map[string]string{}, probe: canBind}
}

func key(proto string, ip netip.Addr, port uint16) string {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return fmt.Sprintf("%s/%s/%d", proto, ip, port)
}

// taken reports whether (proto, ip, port) clashes with one of ours: an
// unspecified address clashes with every address and vice versa.
func (a *Allocator) taken(proto string, ip netip.Addr, port uint16) bool {
	if _, ok := a.held[key(proto, ip, port)]; ok {
		return true
	}
	if ip.IsValid() && !ip.IsUnspecified() {
		_, ok := a.held[key(proto, netip.Addr{}, port)]
		return ok
	}
	suffix := "/" + strconv.Itoa(int(port))
	for k := range a.held {
		if strings.HasPrefix(k, proto+"/") && strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// Allocate resolves every request for owner; on error nothing stays held.
func (a *Allocator) Allocate(owner string, reqs []Request) ([]Mapping, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Mapping
	for _, r := range reqs {
		port, err := a.pick(r)
		if err != nil {
			a.releaseLocked(owner)
			return nil, err
		}
		a.held[key(r.Proto, r.HostIP, port)] = owner
		out = append(out, Mapping{Proto: r.Proto, HostIP: r.HostIP, HostPort: port, ContainerPort: r.ContainerPort})
	}
	return out, nil
}

// Reserve marks mappings restored from disk as held by owner.
func (a *Allocator) Reserve(owner string, ms []Mapping) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range ms {
		a.held[key(m.Proto, m.HostIP, m.HostPort)] = owner
	}
}

func (a *Allocator) pick(r Request) (uint16, error) {
	ip := r.HostIP
	shown := "0.0.0.0"
	if ip.IsValid() {
		shown = ip.String()
	}
	free := func(p uint16) bool { return !a.taken(r.Proto, ip, p) && a.probe(r.Proto, ip, p) }
	if r.HostPortStart != 0 {
		for p := uint32(r.HostPortStart); p <= uint32(r.HostPortEnd); p++ {
			if free(uint16(p)) {
				return uint16(p), nil
			}
		}
		if r.HostPortStart == r.HostPortEnd {
			return 0, errdefs.Conflictf("Bind for %s:%d failed: port is already allocated", shown, r.HostPortStart)
		}
		return 0, errdefs.Conflictf("Bind for %s:%d-%d failed: port is already allocated", shown, r.HostPortStart, r.HostPortEnd)
	}
	lo, hi := ephemeralRange()
	start := lo + rand.IntN(hi-lo+1)
	for i := 0; i <= hi-lo; i++ {
		p := uint16(lo + (start-lo+i)%(hi-lo+1))
		if free(p) {
			return p, nil
		}
	}
	return 0, errdefs.Conflictf("Bind for %s:0 failed: no free host port", shown)
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

// canBind tries to listen on the port; sctp is not probed.
func canBind(proto string, ip netip.Addr, port uint16) bool {
	host := "0.0.0.0"
	if ip.IsValid() {
		host = ip.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
	case "udp":
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
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
// published port appears, published ones with their bindings (IPv4 only).
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
