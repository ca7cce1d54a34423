package portproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func needV6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

// freeV6Port is a port nothing listens on at [::] right now.
func freeV6Port(t *testing.T, network string) uint16 {
	switch network {
	case "tcp":
		l, err := net.Listen("tcp6", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return uint16(l.Addr().(*net.TCPAddr).Port)
	default:
		c, err := net.ListenPacket("udp6", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
}

// TestTCPSixToFour: [::1]:PORT reaches an IPv4-only server, both halves
// of the stream pass (a half-close included), and Close frees the port
// and ends a connection still open.
func TestTCPSixToFour(t *testing.T) {
	needV6(t)
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c) // until the client's half-close
				c.Write(append([]byte("got:"), b...))
			}()
		}
	}()
	back := srv.Addr().(*net.TCPAddr).AddrPort()
	front := netip.AddrPortFrom(netip.IPv6Unspecified(), freeV6Port(t, "tcp"))
	p, err := Start("tcp", front, back, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.IPv6Loopback(), front.Port()).String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "got:hello" {
		t.Fatalf("got %q %v", got, err)
	}

	// The IPv6 listener is IPv6-only: 0.0.0.0 of the same port stays free.
	l4, err := net.Listen("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), front.Port()).String())
	if err != nil {
		t.Fatalf("IPv4 side of the port taken: %v", err)
	}
	l4.Close()

	// A second proxy on the same address fails with the bind's errno.
	if _, err := Start("tcp", front, back, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: %v", err)
	}

	open, err := net.Dial("tcp", netip.AddrPortFrom(netip.IPv6Loopback(), front.Port()).String())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	time.Sleep(50 * time.Millisecond) // let the proxy accept it
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(open).ReadByte(); err == nil {
		t.Fatal("connection through a closed proxy still open")
	}
	l, err := net.Listen("tcp6", front.String())
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	l.Close()
}

// TestUDPSixToFour: datagrams from [::1] reach an IPv4 server and its
// answers come back to the client's address.
func TestUDPSixToFour(t *testing.T) {
	needV6(t)
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	back := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	front := netip.AddrPortFrom(netip.IPv6Unspecified(), freeV6Port(t, "udp"))
	p, err := Start("udp", front, back, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("udp6", netip.AddrPortFrom(netip.IPv6Loopback(), front.Port()).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"one", "two"} {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "re:"+msg {
			t.Fatalf("%s: got %q %v", msg, buf[:n], err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp6", front.String())
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	pc.Close()
}
