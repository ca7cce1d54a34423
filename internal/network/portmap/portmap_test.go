package portmap

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/network"
)

func TestRequests(t *testing.T) {
	bindings := network.PortMap{
		network.MustParsePort("80/tcp"):   {{HostPort: "8080"}, {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: ""}},
		network.MustParsePort("53/udp"):   {{HostPort: "5300-5302"}},
		network.MustParsePort("9000/tcp"): nil,
	}
	exposed := network.PortSet{network.MustParsePort("80/tcp"): {}, network.MustParsePort("443/tcp"): {}}
	reqs, err := Requests(bindings, true, exposed)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 5 {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[0].ContainerPort != 53 || reqs[0].Proto != "udp" || reqs[0].HostPortStart != 5300 || reqs[0].HostPortEnd != 5302 {
		t.Fatalf("first %+v", reqs[0])
	}
	if reqs[3].ContainerPort != 443 || reqs[3].HostPortStart != 0 {
		t.Fatalf("publish-all %+v", reqs[3])
	}
	if _, err := Requests(network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "x"}}}, false, nil); !errdefs.IsInvalid(err) {
		t.Fatalf("want invalid, got %v", err)
	}
	if _, err := Requests(network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "90-80"}}}, false, nil); !errdefs.IsInvalid(err) {
		t.Fatalf("want invalid range, got %v", err)
	}
}

func TestAllocatorConflicts(t *testing.T) {
	busy := map[uint16]bool{}
	a := &Allocator{held: map[string]string{}, probe: func(_ string, _ netip.Addr, p uint16) error {
		if busy[p] {
			return syscall.EADDRINUSE
		}
		return nil
	}}
	ms, err := a.Allocate("c1", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80}})
	if err != nil || ms[0].HostPort != 8080 {
		t.Fatalf("%v %v", ms, err)
	}
	_, err = a.Allocate("c2", []Request{
		{Proto: "udp", HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80},
		{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80},
	})
	// dockerd's allocator names the address that holds the port.
	if !errdefs.IsConflict(err) || err.Error() != "Bind for 0.0.0.0:8080 failed: port is already allocated" {
		t.Fatalf("got %v", err)
	}
	if len(a.held) != 1 {
		t.Fatalf("failed allocation left ports held: %v", a.held)
	}
	ms, err = a.Allocate("c2", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8082, ContainerPort: 80}})
	if err != nil || ms[0].HostPort != 8081 {
		t.Fatalf("range: %v %v", ms, err)
	}
	// A port of ours stays "allocated" even when the host's bind would fail too.
	busy[8081] = true
	_, err = a.Allocate("c3", []Request{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPortStart: 8081, HostPortEnd: 8081}})
	if !errdefs.IsConflict(err) || err.Error() != "Bind for 0.0.0.0:8081 failed: port is already allocated" {
		t.Fatalf("ours and busy: %v", err)
	}
	a.Release("c1")
	a.Release("c2")
	busy[8080] = true // another process of the host now holds it
	ctr := netip.MustParseAddr("172.17.0.2")
	_, err = a.Allocate("c3", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80, ContainerIP: ctr}})
	var be *BindError
	if !errors.As(err, &be) || !errors.Is(err, syscall.EADDRINUSE) || errdefs.IsConflict(err) ||
		err.Error() != "failed to bind host port for 0.0.0.0:8080:172.17.0.2:80/tcp: address already in use" {
		t.Fatalf("host-used port: %v", err)
	}
	_, err = a.Allocate("c3", []Request{{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPortStart: 8080, HostPortEnd: 8081, ContainerPort: 53, ContainerIP: ctr}})
	if err == nil || err.Error() != "failed to bind host port 8081 for 127.0.0.1:8080-8081:172.17.0.2:53/udp: address already in use" {
		t.Fatalf("host-used range: %v", err)
	}
	// A range skips what the host holds.
	ms, err = a.Allocate("c3", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8082, ContainerPort: 80}})
	if err != nil || ms[0].HostPort != 8082 {
		t.Fatalf("range past busy ports: %v %v", ms, err)
	}
	_, err = a.Allocate("c4", []Request{{Proto: "tcp", HostPortStart: 8082, HostPortEnd: 8082, ContainerPort: 80, ContainerIP: netip.MustParseAddr("fd00::2")}})
	if !errdefs.IsConflict(err) {
		t.Fatalf("held by c3: %v", err)
	}
	a.Release("c3")
	busy[8082] = true
	_, err = a.Allocate("c4", []Request{{Proto: "tcp", HostIP: netip.MustParseAddr("::1"), HostPortStart: 8082, HostPortEnd: 8082, ContainerPort: 80, ContainerIP: netip.MustParseAddr("fd00::2")}})
	if err == nil || err.Error() != "failed to bind host port for [::1]:8082:[fd00::2]:80/tcp: address already in use" {
		t.Fatalf("v6 words: %v", err)
	}
	if len(a.held) != 0 {
		t.Fatalf("failed allocations left ports held: %v", a.held)
	}
}

func TestAllocatorProbesRealSocket(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	a := NewAllocator()
	_, err = a.Allocate("c", []Request{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPortStart: port, HostPortEnd: port, ContainerPort: 80, ContainerIP: netip.MustParseAddr("10.0.0.2")}})
	want := "failed to bind host port for 127.0.0.1:" + strconv.Itoa(int(port)) + ":10.0.0.2:80/tcp: address already in use"
	if !errors.Is(err, syscall.EADDRINUSE) || err.Error() != want {
		t.Fatalf("port %d in use by the host: got %v, want %s", port, err, want)
	}
	// An unspecified host address clashes with the listener on 127.0.0.1.
	_, err = a.Allocate("c", []Request{{Proto: "tcp", HostPortStart: port, HostPortEnd: port, ContainerPort: 80}})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("port %d in use by the host on 0.0.0.0: %v", port, err)
	}
	ms, err := a.Allocate("c", []Request{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1")}, {Proto: "udp"}})
	if err != nil || ms[0].HostPort == 0 || ms[1].HostPort == 0 {
		t.Fatalf("random ports: %v %v", ms, err)
	}
	pm := PortMap(ms, network.PortSet{network.MustParsePort("7/tcp"): {}})
	if b := pm[network.MustParsePort("0/tcp")]; len(b) != 1 || b[0].HostPort != strconv.Itoa(int(ms[0].HostPort)) {
		t.Fatalf("port map %v", pm)
	}
	if _, ok := pm[network.MustParsePort("7/tcp")]; !ok {
		t.Fatalf("exposed port missing: %v", pm)
	}
}
