package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/firewalld"
	"github.com/berth-project/berth/internal/network/firewalld/fwdtest"
	"github.com/berth-project/berth/internal/network/nettest"
	"github.com/berth-project/berth/tests/testutil"
)

// TestFirewalldCoexistence runs a real firewalld (Debian 12's 1.3,
// nftables backend) and a berthd together in a private network namespace,
// on a private D-Bus system bus (package fwdtest: the host's firewall and
// /etc are never touched). A peer namespace hangs off that namespace by a
// veth pair: a machine "outside".
//
//   - Without the integration (the same berthd, pointed at a bus that does
//     not exist, as on a host where it could not see firewalld), firewalld's
//     `inet firewalld` table rejects what the bridge sends: containers
//     reach neither the outside peer nor each other nor the embedded DNS on
//     the gateway. Published ports still work: firewalld accepts DNATed
//     traffic before it looks at zones.
//   - With it, the bridges are in firewalld's zone "berth" and all of that
//     works; also after `firewall-cmd --reload` (which drops runtime
//     bindings) and a restart of firewalld.
//   - A removed network's bridge leaves the zone, and a clean stop of
//     berthd leaves the zone empty; firewalld's own stop then leaves no
//     table in the namespace.
func TestFirewalldCoexistence(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd-only: the daemon's firewalld integration")
	}
	fw := fwdtest.New(t)
	fw.StartFirewalld()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", fw.BusAddr) // for firewalld.Bindings
	peer := newPeerOf(t, fw.NS, netip.MustParsePrefix("198.51.100.0/24"))
	peerPort := peer.serve(t, "hello-outside")
	const hostPort = 18080

	dir, err := os.MkdirTemp("/tmp", "bf")
	if err != nil {
		t.Fatal(err)
	}
	o := &ownDaemon{t: t, dir: dir}
	t.Cleanup(func() { stopNSDaemon(t, o) })
	start := func(bus string) {
		t.Helper()
		d, err := testutil.StartBerthdWith(context.Background(), dir,
			testutil.BerthdOptions{NetNS: fw.NS, Env: []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus}}, "--group", "root")
		if err != nil {
			t.Fatal(err)
		}
		o.d, o.dr = d, testutil.DockerDriver(d, filepath.Join(dir, "cfg"))
	}
	start("unix:path=" + filepath.Join(dir, "no-bus"))
	if r := o.dr.Run(context.Background(), strings.NewReader(string(env.tarData)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
	defBridge, _ := network.DefaultNames(o.d.Root)
	nw := "fwd-" + randHex(4)
	br := "br-" + o.ok("network", "create", nw)[:12]

	runSrv := func() string {
		t.Helper()
		o.ok("run", "-d", "--name", "srv", "--network", nw, "-p", fmt.Sprintf("%d:80", hostPort), "busybox", "sh", "-c",
			"mkdir -p /www && echo hello-srv > /www/index.html && exec httpd -f -p 80 -h /www")
		return o.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "srv")
	}
	// reach runs each path from a fresh container; want says whether it
	// should work. Failures come fast: firewalld rejects (ICMP), it does
	// not drop.
	reach := func(when string, want bool, srvIP string) {
		t.Helper()
		try := func(what string, args ...string) {
			t.Helper()
			retry := "1"
			if want {
				retry = "1 2 3 4 5 6 7 8 9 10"
			}
			cmd := fmt.Sprintf("for i in %s; do %s && exit 0; sleep 0.3; done; exit 1", retry, strings.Join(args, " "))
			r := o.dr.Run(context.Background(), nil, "run", "--rm", "--network", nw, "busybox", "sh", "-c", cmd)
			if got := r.Code == 0; got != want {
				t.Errorf("%s: %s: worked=%v, want %v\n%s", when, what, got, want, r)
			}
		}
		try("container to the outside peer", "timeout 5 wget -q -O - "+fmt.Sprintf("http://%s:%d/", peer.ip, peerPort))
		try("container to container", "timeout 5 wget -q -O - "+fmt.Sprintf("http://%s:80/", srvIP))
		try("embedded DNS on the gateway", "timeout 5 nslookup srv | grep -q "+srvIP)
		// Either way: DNATed traffic passes firewalld.
		if got := peer.get(t, net.JoinHostPort(peer.hostIP.String(), strconv.Itoa(hostPort))); got != "hello-srv" {
			t.Errorf("%s: outside peer to the published port: %q", when, got)
		}
	}
	bound := func(when string, want ...string) {
		t.Helper()
		slices.Sort(want)
		var got []string
		for i := 0; i < 100; i++ {
			got, _, err = firewalld.Bindings(context.Background())
			slices.Sort(got)
			if err == nil && slices.Equal(got, want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("%s: zone %s holds %q (%v), want %q", when, firewalld.Zone, got, err, want)
	}

	srvIP := runSrv()
	if tables, err := fw.NftTables(); err != nil || !slices.Contains(tables, "inet firewalld") {
		t.Fatalf("firewalld's table is missing: %q %v", tables, err)
	}
	t.Run("without the integration, firewalld cuts the containers off", func(t *testing.T) {
		reach("berthd without firewalld", false, srvIP)
		if got, _, err := firewalld.Bindings(context.Background()); err != nil || len(got) > 0 {
			t.Errorf("zone %s: %q %v", firewalld.Zone, got, err)
		}
	})

	o.ok("rm", "-f", "srv")
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	start(fw.BusAddr)
	srvIP = runSrv()
	bound("berthd started beside firewalld", defBridge, br)
	reach("berthd beside firewalld", true, srvIP)

	// A reload drops runtime bindings: berthd puts them back.
	if _, err := fw.Cmd("--reload"); err != nil {
		t.Fatal(err)
	}
	bound("after firewall-cmd --reload", defBridge, br)
	reach("after firewall-cmd --reload", true, srvIP)

	// So does a restart, which drops firewalld's whole table.
	if err := fw.StopFirewalld(); err != nil {
		t.Fatal(err)
	}
	fw.StartFirewalld()
	bound("after firewalld restarted", defBridge, br)
	reach("after firewalld restarted", true, srvIP)

	// A network's bridge is bound while the network exists.
	br2 := "br-" + o.ok("network", "create", "--internal", nw+"-2")[:12]
	bound("after network create", defBridge, br, br2)
	o.ok("network", "rm", nw+"-2")
	bound("after network rm", defBridge, br)

	// A clean stop unbinds everything; the zone itself stays, as Docker's
	// "docker" zone does.
	o.ok("rm", "-f", "srv")
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if log := o.d.LogTail(1 << 20); strings.Contains(log, "firewalld: cannot") {
		t.Errorf("the daemon could not work with firewalld:\n%s", log)
	}
	o.d = nil
	bound("after berthd stopped")
	if out, err := fw.Cmd("--get-zones"); err != nil || !slices.Contains(strings.Fields(out), firewalld.Zone) {
		t.Errorf("zone %s gone: %q %v", firewalld.Zone, out, err)
	}
	// Nothing of berthd is left in the namespace, and nothing of firewalld
	// once it stopped.
	if err := fw.StopFirewalld(); err != nil {
		t.Fatal(err)
	}
	if tables, err := fw.NftTables(); err != nil || len(tables) > 0 {
		t.Errorf("nft tables left in the namespace: %q %v", tables, err)
	}
	for _, name := range []string{defBridge, br, br2} {
		if bridge.Exists(name) || nsHasLink(t, fw.NS, name) {
			t.Errorf("bridge %s left", name)
		}
	}
}

// stopNSDaemon stops o's daemon (if still running) and everything it
// started, by pid, and removes its dir.
func stopNSDaemon(t *testing.T, o *ownDaemon) {
	if o.d != nil {
		ids := strings.Fields(o.dr.Run(context.Background(), nil, "ps", "-aq").Stdout)
		if len(ids) > 0 {
			o.dr.Run(context.Background(), nil, append([]string{"rm", "-f"}, ids...)...)
		}
		if err := o.d.Shutdown(); err != nil {
			o.d.Kill()
		}
	}
	// A clean stop with no containers leaves no cgroups.
	sum := sha256.Sum256([]byte(filepath.Join(o.dir, "data")))
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/berth-" + hex.EncodeToString(sum[:4])); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
		for _, l := range left {
			os.Remove(l)
		}
	}
	if left := waitProcsGone(o.dir, 15*time.Second); len(left) > 0 {
		t.Errorf("processes of %s left: %v", o.dir, left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		waitProcsGone(o.dir, 5*time.Second)
	}
	if err := testutil.RemoveDir(o.dir); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// newPeerOf makes a peer namespace joined to the namespace at parent by a
// veth pair on subnet: the parent's end gets the first address, the peer's
// eth0 the second.
func newPeerOf(t *testing.T, parent string, subnet netip.Prefix) *outsidePeer {
	t.Helper()
	p := &outsidePeer{ns: filepath.Join(t.TempDir(), "peer"), hostIP: subnet.Addr().Next()}
	p.ip = p.hostIP.Next()
	if err := bridge.NewNetNS(p.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.DeleteNetNS(p.ns) })
	ph, err := netns.GetFromPath(p.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	up := nettest.Name("up")
	hp, hc := nsHandle(t, parent), nsHandle(t, p.ns)
	if err := hp.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: up}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ph))}); err != nil {
		t.Fatal(err)
	}
	addr := func(a netip.Addr) *netlink.Addr {
		b := a.As4()
		return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(b[:]), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	}
	for _, l := range []struct {
		h    *netlink.Handle
		name string
		ip   netip.Addr
	}{{hp, up, p.hostIP}, {hc, "eth0", p.ip}, {hc, "lo", netip.Addr{}}} {
		link, err := l.h.LinkByName(l.name)
		if err != nil {
			t.Fatal(err)
		}
		if l.ip.IsValid() {
			if err := l.h.AddrAdd(link, addr(l.ip)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// nsHandle is a netlink handle in the namespace at path, closed when
// the test ends.
func nsHandle(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// nsHasLink reports whether the namespace at path has a link named name.
func nsHasLink(t *testing.T, path, name string) bool {
	t.Helper()
	_, err := nsHandle(t, path).LinkByName(name)
	return err == nil
}
