package portmap

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"
)

var (
	any4 = netip.IPv4Unspecified()
	any6 = netip.IPv6Unspecified()
)

// TestExpand: a binding without a host address becomes 0.0.0.0 and ::
// (dockerd 28's configurePortBindingIPv4/IPv6), only 0.0.0.0 without IPv6,
// only the default when host_binding_ipv4 names an address; one with an
// address keeps it alone; the halves of a binding end up adjacent.
func TestExpand(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	reqs := []Request{
		{Proto: "udp", ContainerPort: 53},
		{Proto: "tcp", ContainerPort: 80, HostPortStart: 8080, HostPortEnd: 8080},
		{Proto: "tcp", ContainerPort: 80, HostIP: lo},
		{Proto: "tcp", ContainerPort: 443, HostIP: netip.MustParseAddr("::1"), HostPortStart: 8443, HostPortEnd: 8443},
	}
	type hp struct {
		port uint16
		ip   netip.Addr
		host uint16
	}
	got := func(rs []Request) []hp {
		var out []hp
		for _, r := range rs {
			out = append(out, hp{r.ContainerPort, r.HostIP, r.HostPortStart})
		}
		return out
	}
	// moby's order: exact host ports first, then container port, protocol.
	want := []hp{{80, any4, 8080}, {80, any6, 8080}, {443, netip.MustParseAddr("::1"), 8443}, {53, any4, 0}, {53, any6, 0}, {80, lo, 0}}
	if g := got(Expand(reqs, netip.Addr{}, true)); !equal(g, want) {
		t.Fatalf("with IPv6:\n got %v\nwant %v", g, want)
	}
	if g := got(Expand(reqs, any4, true)); !equal(g, want) {
		t.Fatalf("default 0.0.0.0 is no default:\n got %v\nwant %v", g, want)
	}
	want = []hp{{80, any4, 8080}, {443, netip.MustParseAddr("::1"), 8443}, {53, any4, 0}, {80, lo, 0}}
	if g := got(Expand(reqs, netip.Addr{}, false)); !equal(g, want) {
		t.Fatalf("without IPv6:\n got %v\nwant %v", g, want)
	}
	def := netip.MustParseAddr("10.1.2.3")
	want = []hp{{80, def, 8080}, {443, netip.MustParseAddr("::1"), 8443}, {53, def, 0}, {80, lo, 0}}
	if g := got(Expand(reqs, def, true)); !equal(g, want) {
		t.Fatalf("host_binding_ipv4:\n got %v\nwant %v", g, want)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAllocatePair: the 0.0.0.0 and :: halves of a binding get one port,
// free in both families; 0.0.0.0 and :: do not clash with each other, an
// address clashes with the unspecified one of its family only; either
// half another process holds fails the pair and leaves nothing held.
func TestAllocatePair(t *testing.T) {
	busy := map[netip.AddrPort]bool{}
	a := &Allocator{held: map[string]string{}, probe: func(_ string, ip netip.Addr, p uint16) error {
		if busy[netip.AddrPortFrom(ip, p)] {
			return syscall.EADDRINUSE
		}
		return nil
	}}
	pair := Expand([]Request{{Proto: "tcp", ContainerPort: 80}}, netip.Addr{}, true)
	for i := range 20 {
		ms, err := a.Allocate("r", pair)
		if err != nil || len(ms) != 2 || ms[0].HostPort != ms[1].HostPort || ms[0].HostIP != any4 || ms[1].HostIP != any6 {
			t.Fatalf("%d: random pair %v %v", i, ms, err)
		}
		a.Release("r")
	}
	fixed := Expand([]Request{{Proto: "tcp", ContainerPort: 80, HostPortStart: 8080, HostPortEnd: 8080}}, netip.Addr{}, true)
	if _, err := a.Allocate("c1", fixed); err != nil {
		t.Fatal(err)
	}
	_, err := a.Allocate("c2", fixed)
	if !errdefs.IsConflict(err) || err.Error() != "Bind for 0.0.0.0:8080 failed: port is already allocated" {
		t.Fatalf("pair held: %v", err)
	}
	// dockerd's allocator words for an IPv6 address: not bracketed.
	_, err = a.Allocate("c2", []Request{{Proto: "tcp", HostIP: netip.MustParseAddr("::1"), HostPortStart: 8080, HostPortEnd: 8080}})
	if !errdefs.IsConflict(err) || err.Error() != "Bind for :::8080 failed: port is already allocated" {
		t.Fatalf("[::1] under [::]: %v", err)
	}
	a.Release("c1")
	// 0.0.0.0 held alone (-p 0.0.0.0:8080:80) leaves [::]:8080 free.
	if _, err := a.Allocate("c1", []Request{{Proto: "tcp", HostIP: any4, HostPortStart: 8080, HostPortEnd: 8080}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("c2", []Request{{Proto: "tcp", HostIP: any6, HostPortStart: 8080, HostPortEnd: 8080}}); err != nil {
		t.Fatalf("[::] beside 0.0.0.0: %v", err)
	}
	a.Release("c1")
	a.Release("c2")
	// The :: half held by another process: the bind words name it.
	busy[netip.AddrPortFrom(any6, 8080)] = true
	fixed[0].ContainerIP, fixed[1].ContainerIP = netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.17.0.2")
	_, err = a.Allocate("c3", fixed)
	if err == nil || err.Error() != "failed to bind host port for [::]:8080:172.17.0.2:80/tcp: address already in use" {
		t.Fatalf("[::] busy: %v", err)
	}
	if len(a.held) != 0 {
		t.Fatalf("failed pair left ports held: %v", a.held)
	}
	// A random pair skips a port whose :: half is busy.
	ms, err := a.Allocate("c3", Expand([]Request{{Proto: "tcp", ContainerPort: 80, HostPortStart: 8080, HostPortEnd: 8081}}, netip.Addr{}, true))
	if err != nil || ms[0].HostPort != 8081 || ms[1].HostPort != 8081 {
		t.Fatalf("range past a busy [::]: %v %v", ms, err)
	}
	pm := PortMap(ms, nil)
	b := pm[network.MustParsePort("80/tcp")]
	if len(b) != 2 || b[0].HostIP != any4 || b[1].HostIP != any6 || b[0].HostPort != "8081" || b[1].HostPort != "8081" {
		t.Fatalf("port map %v", pm)
	}
}

// TestProbeV6Real: the real probe of :: is IPv6-only, so a listener on
// 0.0.0.0 does not make [::] busy, and one on [::] does.
func TestProbeV6Real(t *testing.T) {
	if !V6Listenable() {
		t.Skip("no IPv6 here")
	}
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	if err := canBind("tcp", any6, port); err != nil {
		t.Fatalf("[::]:%d with 0.0.0.0 held: %v", port, err)
	}
	l6, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	port6 := uint16(l6.Addr().(*net.TCPAddr).Port)
	if err := canBind("tcp", any6, port6); err != syscall.EADDRINUSE {
		t.Fatalf("[::]:%d held: %v", port6, err)
	}
}

// TestV6ListenableInNetns: in a network namespace of our own (the host's
// sysctls untouched), no ::1 (lo down) or IPv6 disabled means no implicit
// [::] binding, as moby's IsV6Listenable decides.
func TestV6ListenableInNetns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	hostDisabled := ""
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6"); err == nil {
		hostDisabled = string(b)
	}
	type result struct {
		down, up, disabled bool
		err                error
	}
	ch := make(chan result)
	go func() {
		// The thread stays in the namespace: never unlocked, it ends
		// with the goroutine.
		runtime.LockOSThread()
		var r result
		host, err2 := os.Readlink("/proc/thread-self/ns/net")
		if r.err = unix.Unshare(unix.CLONE_NEWNET); r.err != nil {
			ch <- r
			return
		}
		r.down = V6Listenable()
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			r.err = err
			ch <- r
			return
		}
		// lo up (SIOCSIFFLAGS on this thread's namespace).
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			r.err = err
			ch <- r
			return
		}
		ifr, _ := unix.NewIfreq(lo.Name)
		ifr.SetUint16(uint16(lo.Flags|net.FlagUp) | unix.IFF_UP)
		r.err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		unix.Close(fd)
		if r.err != nil {
			ch <- r
			return
		}
		r.up = V6Listenable()
		// /proc/sys/net is the writing thread's namespace's; write only
		// after making sure this thread is not in the host's.
		self, err1 := os.Readlink("/proc/thread-self/ns/net")
		if err1 != nil || err2 != nil || self == host {
			r.err = fmt.Errorf("not in a namespace of our own: %q %q %v %v", self, host, err1, err2)
			ch <- r
			return
		}
		if r.err = os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0); r.err != nil {
			ch <- r
			return
		}
		r.disabled = V6Listenable()
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.down || !r.up || r.disabled {
		t.Fatalf("listenable: lo down %v (want false), lo up %v (want true), disable_ipv6=1 %v (want false)", r.down, r.up, r.disabled)
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6"); err == nil && string(b) != hostDisabled {
		t.Fatalf("the host's disable_ipv6 changed: %q -> %q", hostDisabled, b)
	}
}
