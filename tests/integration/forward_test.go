package integration

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/nettest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// outsidePeer is a namespace outside every berthd network, reached from the
// host over a veth pair: a stand-in for another machine on the LAN.
type outsidePeer struct {
	ns     string
	hostIP netip.Addr // the host's end
	ip     netip.Addr // the peer's address
}

func newOutsidePeer(t *testing.T, subnet netip.Prefix) *outsidePeer {
	t.Helper()
	p := &outsidePeer{ns: filepath.Join(t.TempDir(), "outside"), hostIP: subnet.Addr().Next()}
	p.ip = p.hostIP.Next()
	if err := bridge.NewNetNS(p.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.DeleteNetNS(p.ns) })
	h, err := netns.GetFromPath(p.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	host := nettest.Name("bo")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(h))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(host) })
	link, err := netlink.LinkByName(host)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(a netip.Addr) *netlink.Addr {
		b := a.As4()
		return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(b[:]), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	}
	if err := netlink.AddrAdd(link, addr(p.hostIP)); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := nh.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "eth0" {
			if err := nh.AddrAdd(l, addr(p.ip)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nh.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// serve answers every TCP connection on the peer's port with msg.
func (p *outsidePeer) serve(t *testing.T, msg string) int {
	t.Helper()
	var ln net.Listener
	if err := nettest.InNS(p.ns, func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(p.ip.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// get fetches http://addr/ from inside the peer, retrying while the
// server starts.
func (p *outsidePeer) get(t *testing.T, addr string) string {
	t.Helper()
	var body string
	var last error
	for i := 0; i < 30; i++ {
		last = nettest.InNS(p.ns, func() error {
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
			b, err := io.ReadAll(c)
			if i := strings.Index(string(b), "\r\n\r\n"); i >= 0 {
				body = strings.TrimSpace(string(b[i+4:]))
			}
			return err
		})
		if last == nil && body != "" {
			return body
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("from the outside peer, GET %s: %v", addr, last)
	return ""
}

func forwardPolicy(t *testing.T) string {
	out, err := exec.Command("iptables", "-w", "-S", "FORWARD").Output()
	if err != nil {
		t.Skipf("iptables: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "-P" {
			return f[2]
		}
	}
	return ""
}

// freeSubnets picks n /24s that no host route overlaps.
func freeSubnets(t *testing.T, n int) []netip.Prefix {
	t.Helper()
	used, err := bridge.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for len(out) < n {
		// Far from the subnets the package tests of internal/network pick.
		p, err := nettest.FreeSubnet(used, 150)
		if err != nil {
			t.Fatal(err)
		}
		out, used = append(out, p), append(used, p)
	}
	return out
}

// TestForwardBesideDocker: with dockerd's FORWARD policy DROP on the host,
// containers on berthd's bridges reach each other, a peer outside every
// network, and are reached through published ports from that peer. The
// rules live in berthd's own chain, jumped to from DOCKER-USER; a crashed
// daemon's are replaced (not duplicated) by the next one, a clean stop
// removes them, and two daemons never remove each other's.
func TestForwardBesideDocker(t *testing.T) {
	if forwardPolicy(t) != "DROP" {
		t.Skip("no FORWARD policy DROP on this host (is dockerd running?)")
	}
	nets := freeSubnets(t, 3)
	peer := newOutsidePeer(t, nets[2])
	o := newOwnDaemon(t)
	other := newOwnDaemon(t)
	chain := o.d.FirewallChain()

	nw := "fw-" + randHex(4)
	id := o.ok("network", "create", "--subnet", nets[0].String(), nw)
	br := "br-" + id[:12]
	other.ok("network", "create", "--subnet", nets[1].String(), "fw-other")
	otherBr := "br-" + other.ok("network", "inspect", "-f", "{{.ID}}", "fw-other")[:12]

	hostPort := freePort(t)
	o.ok("run", "-d", "--name", "srv", "--network", nw, "-p", fmt.Sprintf("%d:80", hostPort), "busybox", "sh", "-c",
		"mkdir -p /www && echo hello-srv > /www/index.html && exec httpd -f -p 80 -h /www")
	srvIP := o.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "srv")
	peerPort := peer.serve(t, "hello-outside")

	traffic := func(when string) {
		t.Helper()
		ctr := o.ok("run", "--rm", "--network", nw, "busybox", "sh", "-c", fmt.Sprintf(
			"for i in 1 2 3 4 5 6 7 8 9 10; do timeout 5 wget -q -O - http://%s:80/ && break; sleep 0.3; done", srvIP))
		if ctr != "hello-srv" {
			t.Errorf("%s: container to container: %q", when, ctr)
		}
		out := o.ok("run", "--rm", "--network", nw, "busybox", "timeout", "10", "wget", "-q", "-O", "-",
			fmt.Sprintf("http://%s:%d/", peer.ip, peerPort))
		if out != "hello-outside" {
			t.Errorf("%s: container to the outside peer: %q", when, out)
		}
		if got := peer.get(t, net.JoinHostPort(peer.hostIP.String(), strconv.Itoa(hostPort))); got != "hello-srv" {
			t.Errorf("%s: outside peer to the published port: %q", when, got)
		}
	}
	traffic("first start")

	ours := func() []string {
		t.Helper()
		left, err := o.d.IptablesLeftovers(br)
		if err != nil {
			t.Fatal(err)
		}
		return left
	}
	wantRules := func(when string) {
		t.Helper()
		s := strings.Join(ours(), "\n") + "\n"
		// One jump from DOCKER-USER, three rules for the bridge (the
		// default bridge has its own).
		if strings.Count(s, "-A DOCKER-USER -j "+chain+"\n") != 1 || strings.Count(s, " "+br+" ") != 3 {
			t.Errorf("%s: rules of %s:\n%s", when, chain, s)
		}
	}
	wantRules("first start")

	// A crash leaves the rules; the next daemon replaces them.
	o.d.Kill()
	if len(ours()) == 0 {
		t.Fatal("a SIGKILLed daemon cannot have removed its rules")
	}
	o.start()
	wantRules("after SIGKILL and restart")
	traffic("after SIGKILL and restart")

	// A clean stop removes them all and leaves the other daemon's.
	o.ok("rm", "-f", "srv")
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if left := ours(); len(left) > 0 {
		t.Errorf("left after a clean stop:\n%s", strings.Join(left, "\n"))
	}
	o.d = nil
	left, _ := other.d.IptablesLeftovers(otherBr)
	if s := strings.Join(left, "\n"); strings.Count(s, " "+otherBr+" ") != 3 || !strings.Contains(s, "-A DOCKER-USER -j "+other.d.FirewallChain()) {
		t.Errorf("the other daemon's rules changed:\n%s", s)
	}
	other.ok("network", "rm", "fw-other")
	if left, _ := other.d.IptablesLeftovers(otherBr); strings.Contains(strings.Join(left, "\n"), otherBr) {
		t.Errorf("left after its network went:\n%s", strings.Join(left, "\n"))
	}
}
