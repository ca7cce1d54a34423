package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/dns"
	"github.com/berth-project/berth/internal/network/hostfw"
	"github.com/berth-project/berth/internal/network/nettest"
	"github.com/berth-project/berth/internal/network/nft"
	"github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/dns/dnsmessage"
)

// newTestManager starts a Manager on private roots with a --bip and a user
// network subnet that collide with no host route; t.Cleanup closes it and
// checks that bridges and table are gone.
func newTestManager(t *testing.T) (*Manager, netip.Prefix) {
	t.Helper()
	nettest.RequireRoot(t)
	routes, err := bridge.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	bip, err := nettest.FreeSubnet(routes, 0)
	if err != nil {
		t.Fatal(err)
	}
	user, err := nettest.FreeSubnet(append(routes, bip), 0)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	m, err := New(context.Background(), Config{
		DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"),
		BIP: netip.PrefixFrom(bip.Addr().Next(), 24).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var bridges []string
		for _, n := range m.networks {
			if n.Bridge != "" {
				bridges = append(bridges, n.Bridge)
			}
		}
		if err := m.Close(context.Background(), false); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, b := range bridges {
			if bridge.Exists(b) {
				t.Errorf("bridge %s left after Close", b)
				bridge.Delete(b)
			}
		}
		for _, tb := range []*nft.Table{m.table, m.table6} {
			if tb.Exists() {
				t.Errorf("nft table %s (ipv6 %v) left after Close", tb.Name, tb.IPv6)
				tb.Delete()
			}
		}
		if left, err := hostfw.RulesMentioning(context.Background(), append(bridges, m.fw.Chain())...); err != nil || len(left) > 0 {
			t.Errorf("iptables rules left after Close: %v %v", left, err)
		}
	})
	return m, user
}

// checkCreateRules creates "bt-net" on userSubnet and checks the predefined
// networks and the create errors (an overlap answers dockerd's words).
func checkCreateRules(t *testing.T, m *Manager, userSubnet netip.Prefix) network.CreateResponse {
	t.Helper()
	ctx := context.Background()
	names := map[string]bool{}
	for _, n := range m.List() {
		names[n.Name] = true
	}
	if !names["bridge"] || !names["host"] || !names["none"] {
		t.Fatalf("predefined networks: %v", names)
	}
	resp, err := m.Create(ctx, network.CreateRequest{Name: "bt-net", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: userSubnet}}}, Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(ctx, network.CreateRequest{Name: "bt-other", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: userSubnet}}}})
	if !errors.Is(err, errdefs.ErrForbidden) || err.Error() != "invalid pool request: Pool overlaps with other one on this address space" {
		t.Fatalf("overlap: %v", err)
	}
	if _, err := m.Create(ctx, network.CreateRequest{Name: "bt-net"}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	return resp
}

func TestManagerEndToEnd(t *testing.T) {
	m, userSubnet := newTestManager(t)
	ctx := context.Background()
	resp := checkCreateRules(t, m, userSubnet)
	if err := m.Register("aaaaaaaaaaaa1", "/web", "bt-net", map[string]*network.EndpointSettings{"bt-net": {Aliases: []string{"www"}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Register("bbbbbbbbbbbb2", "/client", "bt-net", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Forget(ctx, "aaaaaaaaaaaa1"); m.Forget(ctx, "bbbbbbbbbbbb2") })
	hostPort := freePort(t)
	ra, err := m.Setup(ctx, "aaaaaaaaaaaa1", SetupOptions{PortBindings: network.PortMap{network.MustParsePort("8080/tcp"): {{HostPort: strconv.Itoa(hostPort)}}}})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := m.Setup(ctx, "bbbbbbbbbbbb2", SetupOptions{Links: []string{"/web:/client/db"}})
	if err != nil {
		t.Fatal(err)
	}
	gw := userSubnet.Addr().Next()
	if rb.Nameserver != gw || len(ra.IPs) != 1 || !userSubnet.Contains(ra.IPs[0]) {
		t.Fatalf("results %+v %+v", ra, rb)
	}
	serveIn(t, ra.NSPath, "8080", "web says hi\n")
	if got := fetch(t, "127.0.0.1:"+strconv.Itoa(hostPort)); got != "web says hi\n" {
		t.Fatalf("published port: %q", got)
	}
	// From the client's namespace: by bridge address, and names over DNS.
	err = nettest.InNS(rb.NSPath, func() error {
		if got := fetch(t, net.JoinHostPort(ra.IPs[0].String(), "8080")); got != "web says hi\n" {
			t.Errorf("by address: %q", got)
		}
		for _, name := range []string{"web", "www", "aaaaaaaaaaaa"} {
			if got := resolve(t, gw, name); got != ra.IPs[0] {
				t.Errorf("dns %s = %v, want %s", name, got, ra.IPs[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := m.Inspect("bt-net")
	if err != nil || len(in.Containers) != 2 || in.Containers["aaaaaaaaaaaa1"].IPv4Address != netip.PrefixFrom(ra.IPs[0], 24) || in.ID != resp.ID {
		t.Fatalf("inspect %+v %v", in, err)
	}
	nets, ports, key := m.Settings("aaaaaaaaaaaa1", nil)
	if nets["bt-net"] == nil || nets["bt-net"].IPAddress != ra.IPs[0] || len(ports) != 1 || key != ra.NSPath {
		t.Fatalf("settings %+v %v %s", nets, ports, key)
	}
	if err := m.Remove(ctx, "bt-net"); !errdefs.IsConflict(err) {
		t.Fatalf("remove with endpoints: %v", err)
	}
	if err := m.Teardown(ctx, "aaaaaaaaaaaa1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ra.NSPath); !os.IsNotExist(err) {
		t.Fatalf("netns file left: %v", err)
	}
	if n, _ := m.table.Count("ctr:aaaaaaaaaaaa1"); n != 0 {
		t.Fatalf("%d port rules left", n)
	}
	m.Teardown(ctx, "bbbbbbbbbbbb2")
	m.Forget(ctx, "aaaaaaaaaaaa1")
	m.Forget(ctx, "bbbbbbbbbbbb2")
	if err := m.Remove(ctx, "bt-net"); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

// TestPortInUseLeavesNothing: a host port held by someone else fails Setup
// with dockerd's words and leaves no namespace, veth, address or rule.
func TestPortInUseLeavesNothing(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// The docker CLI keys the endpoint config by the NetworkMode it sent.
	if err := m.Register("cccccccccccc3", "/busy", "default", map[string]*network.EndpointSettings{"default": {}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Forget(ctx, "cccccccccccc3") })
	pm := network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: strconv.Itoa(port)}}}
	_, err = m.Setup(ctx, "cccccccccccc3", SetupOptions{PortBindings: pm})
	// dockerd 28's words: the endpoint's name and ID, then the binding
	// with the container's address, then the errno; a 500.
	wantRE := regexp.MustCompile(`^failed to set up container networking: driver failed programming external connectivity on endpoint busy \([0-9a-f]{64}\): failed to bind host port for 0\.0\.0\.0:` +
		strconv.Itoa(port) + `:([0-9.]+):80/tcp: address already in use$`)
	sub := wantRE.FindStringSubmatch(fmt.Sprint(err))
	if sub == nil || !errors.Is(err, errdefs.ErrSystem) || errdefs.IsConflict(err) {
		t.Fatalf("got %v, want %s", err, wantRE)
	}
	if ip, perr := netip.ParseAddr(sub[1]); perr != nil || !m.byName("bridge").Pool.Subnet.Contains(ip) {
		t.Fatalf("container address %s not on the bridge", sub[1])
	}
	checkSetupLeftNothing(t, m, "cccccccccccc3", 0)

	// A port another container holds keeps the allocator's words.
	l.Close()
	if err := m.Register("eeeeeeeeeeee5", "/holder", "default", map[string]*network.EndpointSettings{"default": {}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(ctx, "eeeeeeeeeeee5"); m.Forget(ctx, "eeeeeeeeeeee5") })
	if _, err := m.Setup(ctx, "eeeeeeeeeeee5", SetupOptions{PortBindings: pm}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Setup(ctx, "cccccccccccc3", SetupOptions{PortBindings: pm})
	wantRE = regexp.MustCompile(`^failed to set up container networking: driver failed programming external connectivity on endpoint busy \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:` +
		strconv.Itoa(port) + ` failed: port is already allocated$`)
	if !wantRE.MatchString(fmt.Sprint(err)) || !errors.Is(err, errdefs.ErrSystem) || errdefs.IsConflict(err) {
		t.Fatalf("got %v, want %s", err, wantRE)
	}
	checkSetupLeftNothing(t, m, "cccccccccccc3", 1)
}

// checkSetupLeftNothing: a failed Setup of id left no namespace, address
// on the default bridge, veth or nft rule; others is how many containers
// of the test run on the bridge meanwhile.
func checkSetupLeftNothing(t *testing.T, m *Manager, id string, others int) {
	t.Helper()
	if _, serr := os.Stat(m.NetNSPath(id)); !os.IsNotExist(serr) {
		t.Fatalf("netns left: %v", serr)
	}
	br := m.byName("bridge")
	if br.Pool.InUse() != others {
		t.Fatalf("addresses held: %v", br.Pool.Allocated)
	}
	// The veth goes with its namespace: the kernel's netns cleanup, one
	// queue for the host, can lag seconds behind under load.
	veths := func() (n int) {
		links, _ := net.Interfaces()
		for _, li := range links {
			if strings.HasPrefix(li.Name, "veth") && isPort(li.Name, br.Bridge) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for veths() != others && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := veths(); n != others {
		t.Fatalf("%d veths on %s, want %d", n, br.Bridge, others)
	}
	if n, _ := m.table.Count("ctr:" + id); n != 0 {
		t.Fatalf("rules left: %d", n)
	}
}

func isPort(ifName, br string) bool {
	target, err := os.Readlink(filepath.Join("/sys/class/net", ifName, "master"))
	return err == nil && filepath.Base(target) == br
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func serveIn(t *testing.T, nsPath, port, msg string) {
	var ln net.Listener
	if err := nettest.InNS(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", ":"+port)
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
			io.WriteString(c, msg)
			c.Close()
		}
	}()
}

func fetch(t *testing.T, addr string) string {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func resolve(t *testing.T, server netip.Addr, name string) netip.Addr {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := dns.Exchange(ctx, netip.AddrPortFrom(server, 53), q, "udp")
	if err != nil {
		t.Errorf("dns %s: %v", name, err)
		return netip.Addr{}
	}
	var p dnsmessage.Parser
	p.Start(resp)
	p.SkipAllQuestions()
	if _, err := p.AnswerHeader(); err != nil {
		return netip.Addr{}
	}
	a, _ := p.AResource()
	return netip.AddrFrom4(a.A)
}

// TestCloseKeepOnlyWithSandboxes: live restore keeps the bridges and table
// only while a container still has its namespace.
func TestCloseKeepOnlyWithSandboxes(t *testing.T) {
	m, _ := newTestManager(t)
	br, tbl := m.bridge0, m.table.Name
	if err := m.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if bridge.Exists(br) || m.table.Exists() {
		t.Fatalf("live-restore close without containers left bridge %s or table %s", br, tbl)
	}
}

// TestStaleNetNSSwept: a namespace without a sandbox record (a setup cut
// short by the daemon's exit) is removed at start, and Setup replaces one
// left at its path.
func TestStaleNetNSSwept(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	stale := m.NetNSPath("dddddddddddd4")
	if err := bridge.NewNetNS(stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.DeleteNetNS(stale) })
	m.mu.Lock()
	m.sweepNetNS()
	m.mu.Unlock()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale netns kept: %v", err)
	}
	if err := bridge.NewNetNS(stale); err != nil {
		t.Fatal(err)
	}
	if err := m.Register("dddddddddddd4", "/again", "bridge", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Forget(ctx, "dddddddddddd4") })
	if _, err := m.Setup(ctx, "dddddddddddd4", SetupOptions{}); err != nil {
		t.Fatalf("setup over a leftover namespace: %v", err)
	}
}

// A network on a bridge that existed before it (docker0, an admin's bridge)
// uses it, but neither network rm nor the daemon's shutdown deletes it:
// only the gateway address Berth added goes. Deleting docker0 under a
// running dockerd cut its containers off.
func TestUserBridgeIsNotDeleted(t *testing.T) {
	nettest.RequireRoot(t)
	routes, err := bridge.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := nettest.FreeSubnet(routes, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("bzu%d", os.Getpid()%100000)
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(name) })
	root := t.TempDir()
	m, err := New(context.Background(), Config{DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func() {
		t.Helper()
		if _, err := m.Create(ctx, network.CreateRequest{Name: "bt-user", Options: map[string]string{"com.docker.network.bridge.name": name},
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}}); err != nil {
			t.Fatal(err)
		}
		if addrs := bridgeAddrs(t, name); len(addrs) != 1 {
			t.Fatalf("gateway on %s: %v", name, addrs)
		}
	}
	create()
	if err := m.Remove(ctx, "bt-user"); err != nil {
		t.Fatal(err)
	}
	if !bridge.Exists(name) {
		t.Fatal("network rm deleted a bridge Berth did not make")
	}
	if addrs := bridgeAddrs(t, name); len(addrs) != 0 {
		t.Fatalf("gateway address left on %s: %v", name, addrs)
	}
	create()
	if err := m.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !bridge.Exists(name) {
		t.Fatal("daemon shutdown deleted a bridge Berth did not make")
	}
	if addrs := bridgeAddrs(t, name); len(addrs) != 0 {
		t.Fatalf("gateway address left on %s after shutdown: %v", name, addrs)
	}
}

func bridgeAddrs(t *testing.T, name string) []netlink.Addr {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}
