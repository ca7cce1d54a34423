// Package dns is the embedded resolver of user-defined networks: one UDP and
// TCP server per network on its gateway address, port 53. It answers A
// queries for names the network knows (container names, network aliases,
// link aliases) and forwards everything else to the host's resolvers, the
// way dockerd's embedded DNS does. Containers on such networks get
// "nameserver <gateway>" in their resolv.conf.
package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Lookup returns the IPv4 addresses of name (lower case, no trailing dot),
// and whether the name is known at all (known names get an authoritative
// empty answer for other types rather than a forward).
type Lookup func(name string) (addrs []netip.Addr, known bool)

// ttl matches dockerd's embedded DNS.
const ttl = 600

// Answer builds the response to query from lookup. forward is true when
// the name is not ours and the query should go to an upstream resolver.
func Answer(query []byte, lookup Lookup) (resp []byte, forward bool, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false, fmt.Errorf("parse dns query: %w", err)
	}
	q, err := p.Question()
	if err != nil {
		return nil, false, fmt.Errorf("parse dns question: %w", err)
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	addrs, known := lookup(name)
	if !known {
		return nil, true, nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false, err
	}
	if err := b.Question(q); err != nil {
		return nil, false, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false, err
	}
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL):
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: ttl}
			if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
				return nil, false, err
			}
		case a.Is6() && (q.Type == dnsmessage.TypeAAAA || q.Type == dnsmessage.TypeALL):
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET, TTL: ttl}
			if err := b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}); err != nil {
				return nil, false, err
			}
		}
	}
	resp, err = b.Finish()
	return resp, false, err
}

// servfail answers a query we could not forward.
func servfail(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, qerr := p.Question()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeServerFailure, RecursionDesired: h.RecursionDesired})
	if qerr == nil {
		b.StartQuestions()
		b.Question(q)
	}
	out, _ := b.Finish()
	return out
}

// Server serves one network's names.
type Server struct {
	Addr   netip.Addr
	Port   uint16 // 0 means 53
	Lookup Lookup
	// ClientLookup, if set, answers names only some clients see (a
	// container's link aliases) when Lookup does not know them.
	ClientLookup func(name string, client netip.Addr) ([]netip.Addr, bool)
	Upstreams    []netip.AddrPort
	// ClientUpstreams, when set and non-empty for a client, replaces
	// Upstreams for that client (a container's --dns servers).
	ClientUpstreams func(client netip.Addr) []netip.AddrPort
	Log             *slog.Logger

	udp *net.UDPConn
	tcp *net.TCPListener
	wg  sync.WaitGroup
}

// Start binds both sockets and serves until Close.
func (s *Server) Start() error {
	if s.Port == 0 {
		s.Port = 53
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	ap := netip.AddrPortFrom(s.Addr, s.Port)
	u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return fmt.Errorf("embedded dns on %s: %w", ap, err)
	}
	t, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(ap))
	if err != nil {
		u.Close()
		return fmt.Errorf("embedded dns on %s: %w", ap, err)
	}
	s.udp, s.tcp = u, t
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return nil
}

// Close stops serving and waits for the loops to end.
func (s *Server) Close() error {
	if s.udp == nil {
		return nil
	}
	err := errors.Join(s.udp.Close(), s.tcp.Close())
	s.wg.Wait()
	return err
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if resp := s.handle(q, "udp", from.Addr()); resp != nil {
				s.udp.WriteToUDPAddrPort(resp, from)
			}
		}()
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	for {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := s.handle(q, "tcp", remoteAddr(c))
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}

func (s *Server) handle(q []byte, proto string, client netip.Addr) []byte {
	lookup := s.Lookup
	if s.ClientLookup != nil {
		lookup = func(name string) ([]netip.Addr, bool) {
			if addrs, ok := s.Lookup(name); ok {
				return addrs, ok
			}
			return s.ClientLookup(name, client.Unmap())
		}
	}
	resp, forward, err := Answer(q, lookup)
	if err != nil {
		return nil
	}
	if !forward {
		return resp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ups := s.Upstreams
	if s.ClientUpstreams != nil {
		if own := s.ClientUpstreams(client.Unmap()); len(own) > 0 {
			ups = own
		}
	}
	for _, up := range ups {
		if r, err := Exchange(ctx, up, q, proto); err == nil {
			return r
		}
	}
	return servfail(q)
}

// Exchange sends one query to server over proto ("udp" or "tcp").
func Exchange(ctx context.Context, server netip.AddrPort, q []byte, proto string) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, proto, server.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if proto == "udp" {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(c, resp)
	return resp, err
}

// HostUpstreams reads the nameservers of a resolv.conf, leaving out
// loopback ones (they would not be reachable the same way from here as the
// host meant them, and could loop back to us).
func HostUpstreams(resolvConf string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, line := range strings.Split(resolvConf, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsLoopback() || !a.Is4() {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, 53))
	}
	return out
}
