package portmap

import (
	"net"
	"net/netip"
	"strconv"
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
	free := map[uint16]bool{}
	a := &Allocator{held: map[string]string{}, probe: func(_ string, _ netip.Addr, p uint16) bool { return !free[p] }}
	ms, err := a.Allocate("c1", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80}})
	if err != nil || ms[0].HostPort != 8080 {
		t.Fatalf("%v %v", ms, err)
	}
	_, err = a.Allocate("c2", []Request{
		{Proto: "udp", HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80},
		{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPortStart: 8080, HostPortEnd: 8080, ContainerPort: 80},
	})
	if !errdefs.IsConflict(err) || err.Error() != "Bind for 127.0.0.1:8080 failed: port is already allocated" {
		t.Fatalf("got %v", err)
	}
	if len(a.held) != 1 {
		t.Fatalf("failed allocation left ports held: %v", a.held)
	}
	ms, err = a.Allocate("c2", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8082, ContainerPort: 80}})
	if err != nil || ms[0].HostPort != 8081 {
		t.Fatalf("range: %v %v", ms, err)
	}
	a.Release("c1")
	free[8080] = true // the host itself now uses it
	if _, err := a.Allocate("c3", []Request{{Proto: "tcp", HostPortStart: 8080, HostPortEnd: 8080}}); err == nil || err.Error() != "Bind for 0.0.0.0:8080 failed: port is already allocated" {
		t.Fatalf("host-used port: %v", err)
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
	_, err = a.Allocate("c", []Request{{Proto: "tcp", HostPortStart: port, HostPortEnd: port}})
	if !errdefs.IsConflict(err) {
		t.Fatalf("port %d in use by the host was handed out: %v", port, err)
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
