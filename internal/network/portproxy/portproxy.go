// Package portproxy forwards a published port's IPv6 host address to the
// container in user space: what dockerd 28's docker-proxy does for the
// [::]:PORT half of a `-p PORT:CPORT` binding. Packet rules cannot serve
// it for every case: an IPv4-only container has no IPv6 address to DNAT
// to, and the kernel routes no packet from ::1 off the loopback device (no
// IPv6 route_localnet), so `curl http://[::1]:PORT/` needs a socket that
// accepts and connects onward.
//
// One Proxy is one listening socket and its connections, run by
// goroutines in berthd. TCP connections are copied both ways with
// half-closes; UDP keeps one upstream socket per client address and drops
// it after 90 s without traffic (docker-proxy's conntrack timeout).
package portproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// UDPIdle is how long a UDP client's upstream socket lives without traffic.
const UDPIdle = 90 * time.Second

// dialTimeout bounds a connection attempt to the container.
const dialTimeout = 10 * time.Second

// Proxy is one forwarded host address and port.
type Proxy struct {
	proto   string
	front   netip.AddrPort
	back    netip.AddrPort
	log     *slog.Logger
	tcp     net.Listener
	udp     *net.UDPConn
	mu      sync.Mutex
	conns   map[io.Closer]struct{}
	closed  bool
	running sync.WaitGroup
}

// Start listens on front (IPv6-only when front is an IPv6 address, so it
// never takes the IPv4 side of the port) and forwards to back. The
// bind's error is returned as is (a syscall.Errno inside), so the caller
// can word it as dockerd does.
func Start(proto string, front, back netip.AddrPort, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{proto: proto, front: front, back: back, log: log, conns: map[io.Closer]struct{}{}}
	family := "4"
	if front.Addr().Is6() {
		family = "6"
	}
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp"+family, front.String())
		if err != nil {
			return nil, bindErrno(err)
		}
		p.tcp = l
		p.running.Add(1)
		go p.serveTCP()
	case "udp":
		c, err := net.ListenUDP("udp"+family, net.UDPAddrFromAddrPort(front))
		if err != nil {
			return nil, bindErrno(err)
		}
		p.udp = c
		p.running.Add(1)
		go p.serveUDP()
	default:
		return nil, fmt.Errorf("no userland proxy for protocol %s", proto)
	}
	return p, nil
}

// bindErrno unwraps the errno of a failed listen (EADDRINUSE...).
func bindErrno(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() netip.AddrPort { return p.front }

// Close stops listening and ends every forwarded connection, as stopping
// docker-proxy does; it returns once the proxy's goroutines are done.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var err error
	if p.tcp != nil {
		err = p.tcp.Close()
	}
	if p.udp != nil {
		err = p.udp.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.running.Wait()
	return err
}

// track remembers c so Close ends it; false once the proxy is closed.
func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) serveTCP() {
	defer p.running.Done()
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("port proxy: accept", "listen", p.front, "err", err)
			}
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.running.Add(1)
		go p.forwardTCP(c.(*net.TCPConn))
	}
}

func (p *Proxy) forwardTCP(client *net.TCPConn) {
	defer p.running.Done()
	defer p.untrack(client)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	var d net.Dialer
	bc, err := d.DialContext(ctx, "tcp", p.back.String())
	cancel()
	if err != nil {
		p.log.Debug("port proxy: cannot reach the container", "listen", p.front, "container", p.back, "err", err)
		return
	}
	backend := bc.(*net.TCPConn)
	if !p.track(backend) {
		backend.Close()
		return
	}
	defer p.untrack(backend)
	defer backend.Close()
	var wg sync.WaitGroup
	pipe := func(to, from *net.TCPConn) {
		defer wg.Done()
		io.Copy(to, from)
		// Pass the end of one direction on; the other goes on until
		// its own end (a client that shuts down its write half still
		// gets the answer).
		to.CloseWrite()
		from.CloseRead()
	}
	wg.Add(2)
	go pipe(backend, client)
	go pipe(client, backend)
	wg.Wait()
}

// udpFlow is one UDP client's upstream socket.
type udpFlow struct {
	up   *net.UDPConn
	last time.Time
}

func (p *Proxy) serveUDP() {
	defer p.running.Done()
	var mu sync.Mutex
	flows := map[netip.AddrPort]*udpFlow{}
	buf := make([]byte, 65535)
	for {
		n, from, err := p.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("port proxy: read", "listen", p.front, "err", err)
			}
			return
		}
		mu.Lock()
		f := flows[from]
		if f == nil {
			up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.back))
			if err != nil {
				mu.Unlock()
				p.log.Debug("port proxy: cannot reach the container", "listen", p.front, "container", p.back, "err", err)
				continue
			}
			if !p.track(up) {
				mu.Unlock()
				up.Close()
				return
			}
			f = &udpFlow{up: up}
			flows[from] = f
			p.running.Add(1)
			go p.udpReplies(from, f, &mu, flows)
		}
		f.last = time.Now()
		up := f.up
		mu.Unlock()
		if _, err := up.Write(buf[:n]); err != nil {
			p.log.Debug("port proxy: write to the container", "container", p.back, "err", err)
		}
	}
}

// udpReplies sends the container's answers to client until the flow has
// been idle for UDPIdle or the proxy closes.
func (p *Proxy) udpReplies(client netip.AddrPort, f *udpFlow, mu *sync.Mutex, flows map[netip.AddrPort]*udpFlow) {
	defer p.running.Done()
	defer func() {
		mu.Lock()
		delete(flows, client)
		mu.Unlock()
		p.untrack(f.up)
		f.up.Close()
	}()
	buf := make([]byte, 65535)
	for {
		f.up.SetReadDeadline(time.Now().Add(UDPIdle))
		n, err := f.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				idle := time.Since(f.last) >= UDPIdle
				mu.Unlock()
				if !idle {
					continue
				}
			}
			return
		}
		mu.Lock()
		f.last = time.Now()
		mu.Unlock()
		if _, err := p.udp.WriteToUDPAddrPort(buf[:n], client); err != nil {
			return
		}
	}
}
