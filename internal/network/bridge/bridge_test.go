package bridge_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/hostfw"
	"github.com/berth-project/berth/internal/network/nettest"
	"github.com/berth-project/berth/internal/network/nft"
)

// TestBridgeDNAT builds a bridge, two namespaces with veths, and an nft
// table with a DNAT rule, then proves real traffic: host 127.0.0.1:port →
// server in ns A, and ns B → ns A by its bridge address.
func TestBridgeDNAT(t *testing.T) {
	nettest.RequireRoot(t)
	routes, err := bridge.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := nettest.FreeSubnet(routes, 0)
	if err != nil {
		t.Fatal(err)
	}
	br := nettest.Name("bt")
	gw := subnet.Addr().Next()
	if err := bridge.Ensure(br, netip.PrefixFrom(gw, 24), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Delete(br) })
	tbl := &nft.Table{Name: nettest.Name("bt-")}
	if err := tbl.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tbl.Delete() })
	if err := tbl.Add(nft.NetworkRules("net", br, subnet, nft.Policy{})...); err != nil {
		t.Fatal(err)
	}
	// Where dockerd runs, its FORWARD policy drops bridged traffic too.
	fw := hostfw.New(hostfw.ChainName(tbl.Name))
	if err := fw.Allow(context.Background(), br, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close(context.Background()) })
	dir := t.TempDir()
	addrs := makeNamespaces(t, dir, br, subnet, gw)
	testTraffic(t, tbl, dir, addrs)
}

// makeNamespaces makes netns "a" and "b" under dir, each with a veth on br.
func makeNamespaces(t *testing.T, dir, br string, subnet netip.Prefix, gw netip.Addr) map[string]netip.Addr {
	addrs := map[string]netip.Addr{}
	for i, name := range []string{"a", "b"} {
		path := filepath.Join(dir, name)
		if err := bridge.NewNetNS(path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bridge.DeleteNetNS(path) })
		host := nettest.Name("vt")
		t.Cleanup(func() { bridge.Delete(host) })
		ip := netip.AddrFrom4([4]byte{subnet.Addr().As4()[0], subnet.Addr().As4()[1], subnet.Addr().As4()[2], byte(10 + i)})
		addrs[name] = ip
		err := bridge.AddEndpoint(path, bridge.Endpoint{HostIfName: host, IfName: "eth0", Bridge: br, Addr: netip.PrefixFrom(ip, 24), Gateway: gw})
		if err != nil {
			t.Fatal(err)
		}
	}
	return addrs
}

// testTraffic serves in "a" and reaches it through a published port on
// 127.0.0.1 and from "b" by address; removing the rules closes the port.
func testTraffic(t *testing.T, tbl *nft.Table, dir string, addrs map[string]netip.Addr) {
	var ln net.Listener
	if err := nettest.InNS(filepath.Join(dir, "a"), func() (err error) {
		ln, err = net.Listen("tcp4", ":8080")
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
			io.WriteString(c, "hello from a\n")
			c.Close()
		}
	}()
	// A free host port: bind and release.
	pl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	m := nft.PortMapping{Proto: "tcp", HostPort: uint16(hostPort), ContainerIP: addrs["a"], ContainerPort: 8080}
	if err := tbl.Add(nft.PortRules("ep-a", m)...); err != nil {
		t.Fatal(err)
	}
	if got := read(t, "127.0.0.1:"+strconv.Itoa(hostPort)); got != "hello from a\n" {
		t.Fatalf("via published port on 127.0.0.1: %q", got)
	}
	var got string
	if err := nettest.InNS(filepath.Join(dir, "b"), func() error {
		got = read(t, net.JoinHostPort(addrs["a"].String(), "8080"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != "hello from a\n" {
		t.Fatalf("from b by bridge address: %q", got)
	}
	if err := tbl.RemoveOwner("ep-a"); err != nil {
		t.Fatal(err)
	}
	if n, _ := tbl.Count("ep-a"); n != 0 {
		t.Fatalf("%d rules left for ep-a", n)
	}
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(hostPort), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("published port still answers after its rules were removed")
	}
}

func read(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}
