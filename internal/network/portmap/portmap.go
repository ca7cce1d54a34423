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
// address and vice versa.
func (a *Allocator) taken(proto string, ip netip.Addr, port uint16) (netip.Addr, bool) {
	ip = orUnspecified(ip)
	if _, ok := a.held[key(proto, ip, port)]; ok {
		return ip, true
	}
	if !ip.IsUnspecified() {
		_, ok := a.held[key(proto, netip.Addr{}, port)]
		return netip.IPv4Unspecified(), ok
	}
	prefix, suffix := proto+"/", "/"+strconv.Itoa(int(port))
	for k := range a.held {
		if strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) {
			held, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(k, prefix), suffix))
			return held, err == nil
		}
	}
	return netip.Addr{}, false
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

func (a *Allocator) pick(r Request) (uint16, error) {
	ip := r.HostIP
	// bindErr is the last port of the range another process held.
	var bindErr error
	free := func(p uint16) bool {
		if _, ok := a.taken(r.Proto, ip, p); ok {
			return false
		}
		if err := a.probe(r.Proto, ip, p); err != nil {
			bindErr = &BindError{Req: r, Port: p, Err: err}
			return false
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
			held, _ := a.taken(r.Proto, ip, r.HostPortStart)
			return 0, errdefs.Conflictf("Bind for %s:%d failed: port is already allocated", held, r.HostPortStart)
		}
		return 0, errdefs.Conflictf("Bind for %s:%d-%d failed: port is already allocated", orUnspecified(ip), r.HostPortStart, r.HostPortEnd)
	}
	lo, hi := ephemeralRange()
	start := lo + rand.IntN(hi-lo+1)
	for i := 0; i <= hi-lo; i++ {
		p := uint16(lo + (start-lo+i)%(hi-lo+1))
		if free(p) {
			return p, nil
		}
	}
	return 0, errdefs.Conflictf("Bind for %s:0 failed: no free host port", orUnspecified(ip))
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
func canBind(proto string, ip netip.Addr, port uint16) error {
	addr := net.JoinHostPort(orUnspecified(ip).String(), strconv.Itoa(int(port)))
	var err error
	switch proto {
	case "tcp":
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
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
