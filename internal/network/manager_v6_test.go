package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/nettest"
	"github.com/berth-project/berth/internal/network/portmap"
	"github.com/moby/moby/api/types/network"
)

// TestPublishBothFamilies: a binding without a host address is published
// on 0.0.0.0 (DNAT) and [::] (the proxy, to the IPv4-only container), as
// dockerd 28 does; [::] held by another process fails Setup with the bind
// words and leaves nothing; Teardown closes the listener; a host that
// cannot listen on IPv6 publishes 0.0.0.0 alone.
func TestPublishBothFamilies(t *testing.T) {
	if !portmap.V6Listenable() {
		t.Skip("no IPv6 on this host")
	}
	m, _ := newTestManager(t)
	ctx := context.Background()
	const id = "ffffffffffff6"
	if err := m.Register(id, "/both", "default", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(ctx, id); m.Forget(ctx, id) })
	port := nettest.FreePort46(t)
	pm := network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: strconv.Itoa(port)}}}

	l6, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Setup(ctx, id, SetupOptions{PortBindings: pm})
	l6.Close()
	wantRE := regexp.MustCompile(`: failed to bind host port for \[::\]:` + strconv.Itoa(port) + `:[0-9.]+:80/tcp: address already in use$`)
	if !wantRE.MatchString(fmt.Sprint(err)) || !errors.Is(err, errdefs.ErrSystem) {
		t.Fatalf("[::] held: got %v, want %s", err, wantRE)
	}
	checkSetupLeftNothing(t, m, id, 0)

	res, err := m.Setup(ctx, id, SetupOptions{PortBindings: pm})
	if err != nil {
		t.Fatal(err)
	}
	_, ports, _ := m.Settings(id, nil)
	bs := ports[network.MustParsePort("80/tcp")]
	if len(bs) != 2 || bs[0].HostIP != netip.IPv4Unspecified() || bs[1].HostIP != netip.IPv6Unspecified() ||
		bs[0].HostPort != strconv.Itoa(port) || bs[1].HostPort != strconv.Itoa(port) {
		t.Fatalf("Ports %v", ports)
	}
	serveIn(t, res.NSPath, "80", "both says hi\n")
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("[::1]:%d", port)} {
		if got := fetch(t, addr); got != "both says hi\n" {
			t.Fatalf("%s: %q", addr, got)
		}
	}
	if n, _ := m.table.Count("ctr:" + id); n != 2 {
		t.Fatalf("want the 0.0.0.0 half's 2 DNAT rules, got %d", n)
	}
	if err := m.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("[::1]:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("[::1] still served after Teardown")
	}
	l, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", port))
	if err != nil {
		t.Fatalf("[::]:%d held after Teardown: %v", port, err)
	}
	l.Close()

	// As on a host without IPv6 (moby's IsV6Listenable false).
	m.v6 = false
	if _, err := m.Setup(ctx, id, SetupOptions{PortBindings: pm}); err != nil {
		t.Fatal(err)
	}
	_, ports, _ = m.Settings(id, nil)
	if bs := ports[network.MustParsePort("80/tcp")]; len(bs) != 1 || bs[0].HostIP != netip.IPv4Unspecified() {
		t.Fatalf("without IPv6: %v", ports)
	}
	if len(m.proxies[id]) != 0 {
		t.Fatalf("proxies without IPv6: %v", m.proxies[id])
	}
}

// TestPublishIPv6Container: a container with an IPv6 address gets ip6
// DNAT rules for its [::] half (the client's address reaches it, as with
// dockerd's ip6tables NAT), while [::1] still goes through the proxy;
// Teardown removes the rules from the ip6 table.
func TestPublishIPv6Container(t *testing.T) {
	if !portmap.V6Listenable() {
		t.Skip("no IPv6 on this host")
	}
	m, user := newTestManager(t)
	ctx := context.Background()
	sub6 := netip.MustParsePrefix(fmt.Sprintf("fd%02x:%x:%x::/64", user.Addr().As4()[1], user.Addr().As4()[2], time.Now().UnixNano()&0xffff))
	en := true
	if _, err := m.Create(ctx, network.CreateRequest{Name: "bt-v6", EnableIPv6: &en, IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: user}, {Subnet: sub6}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Remove(ctx, "bt-v6") })
	const id = "666666666666a"
	if err := m.Register(id, "/six", "bt-v6", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(ctx, id); m.Forget(ctx, id) })
	port := nettest.FreePort46(t)
	res, err := m.Setup(ctx, id, SetupOptions{PortBindings: network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: strconv.Itoa(port)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 2 || !sub6.Contains(res.IPs[1]) {
		t.Fatalf("addresses %v", res.IPs)
	}
	// The server answers with the address it sees.
	var ln net.Listener
	if err := nettest.InNS(res.NSPath, func() (err error) {
		ln, err = net.Listen("tcp", ":80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintln(c, ap.Addr().Unmap())
			c.Close()
		}
	}()
	gw6 := sub6.Addr().Next()
	// [::1]: the proxy, which connects from the bridge's gateway.
	if got := fetch(t, fmt.Sprintf("[::1]:%d", port)); got != gw6.String()+"\n" {
		t.Fatalf("[::1] through the proxy: seen as %q, want %s", got, gw6)
	}
	if n, _ := m.table6.Count("ctr:" + id); n != 2 {
		t.Fatalf("ip6 DNAT rules: %d, want 2", n)
	}
	// A global address of the host: DNAT keeps the client's address.
	var host netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() && p.Addr().IsGlobalUnicast() && !sub6.Contains(p.Addr()) {
			host = p.Addr()
			break
		}
	}
	if host.IsValid() {
		if got := fetch(t, net.JoinHostPort(host.String(), strconv.Itoa(port))); got != host.String()+"\n" {
			t.Fatalf("[%s] by DNAT: seen as %q, want the client's own address", host, got)
		}
	} else {
		t.Log("no global IPv6 address on the host: the DNAT path is checked by its rules only")
	}
	// Hairpin: another container of the network through the gateway.
	const other = "666666666666b"
	if err := m.Register(other, "/peer", "bt-v6", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(ctx, other); m.Forget(ctx, other) })
	ro, err := m.Setup(ctx, other, SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := nettest.InNS(ro.NSPath, func() error {
		if got := fetch(t, net.JoinHostPort(gw6.String(), strconv.Itoa(port))); got != gw6.String()+"\n" {
			t.Errorf("hairpin: seen as %q, want the gateway %s (masqueraded)", got, gw6)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.table6.Count("ctr:" + id); n != 0 {
		t.Fatalf("ip6 rules left: %d", n)
	}
}
