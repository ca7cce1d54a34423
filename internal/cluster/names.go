package cluster

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultDataRoot is berthd's default --data-root: its cluster keeps
// Kubernetes' usual ports and names.
const DefaultDataRoot = "/var/lib/berth"

// Identity is what keeps the clusters of two daemons on one host apart: every
// name and port a cluster puts on the host is derived from the daemon's data
// root, as berthd's bridge, nft table and cgroup parent are.
type Identity struct {
	// Tag is "" for the default data root, else 8 hex digits of its hash.
	Tag string
	// NodeName is the Node object's name: the host name, suffixed with the
	// tag for a daemon other than the default one.
	NodeName string
	// CgroupRoot is the kubelet's cgroupRoot; kubepods live under it in
	// every hierarchy.
	CgroupRoot string
	// Bridge is the CNI bridge of the pods (at most 15 characters).
	Bridge string
	// NetworkName is the CNI network's name.
	NetworkName string
	// Ports are the TCP ports the components listen on (127.0.0.1 only).
	Ports Ports
	// subnetStart is the first candidate of the pod/service subnet search.
	subnetStart int
}

// Ports of one cluster's components.
type Ports struct {
	APIServer     int `json:"apiserver"`
	EtcdClient    int `json:"etcdClient"`
	EtcdPeer      int `json:"etcdPeer"`
	EtcdMetrics   int `json:"etcdMetrics"`
	Kubelet       int `json:"kubelet"`
	KubeletHealth int `json:"kubeletHealthz"`
	ControllerMgr int `json:"controllerManager"`
	Scheduler     int `json:"scheduler"`
	ProxyHealth   int `json:"kubeProxyHealthz"`
	ProxyMetrics  int `json:"kubeProxyMetrics"`
	DNSReady      int `json:"corednsReady"`
}

// list names each port for messages.
func (p Ports) list() []struct {
	Name string
	Port int
} {
	return []struct {
		Name string
		Port int
	}{
		{"kube-apiserver", p.APIServer}, {"etcd client", p.EtcdClient}, {"etcd peer", p.EtcdPeer},
		{"etcd metrics", p.EtcdMetrics}, {"kubelet", p.Kubelet}, {"kubelet healthz", p.KubeletHealth},
		{"kube-controller-manager", p.ControllerMgr}, {"kube-scheduler", p.Scheduler},
		{"kube-proxy healthz", p.ProxyHealth}, {"kube-proxy metrics", p.ProxyMetrics},
		{"CoreDNS ready", p.DNSReady},
	}
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// IdentityFor derives a daemon's cluster names from its data root.
func IdentityFor(dataRoot string) Identity {
	dataRoot = filepath.Clean(dataRoot)
	host, _ := os.Hostname()
	host = strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(host), "-"), "-")
	if host == "" {
		host = "berth"
	}
	if dataRoot == DefaultDataRoot {
		// Kubernetes' customary ports, so documentation and habits apply.
		return Identity{
			NodeName: host, CgroupRoot: "/berth-kube", Bridge: "berth-cni0", NetworkName: "berth",
			Ports: Ports{APIServer: 6443, EtcdClient: 2379, EtcdPeer: 2380, EtcdMetrics: 2381,
				Kubelet: 10250, KubeletHealth: 10248, ControllerMgr: 10257, Scheduler: 10259,
				ProxyHealth: 10256, ProxyMetrics: 10249, DNSReady: 8181},
		}
	}
	sum := sha256.Sum256([]byte(dataRoot))
	tag := hex.EncodeToString(sum[:4])
	n := int(binary.BigEndian.Uint32(sum[:4]))
	// A block of 16 ports in 16400-19599, below the kernel's ephemeral range.
	base := 16400 + (n%200)*16
	if len(host) > 40 {
		host = host[:40]
	}
	return Identity{
		Tag: tag, NodeName: host + "-" + tag, CgroupRoot: "/berth-kube-" + tag,
		Bridge: "bcni-" + tag, NetworkName: "berth-" + tag,
		Ports: Ports{APIServer: base, EtcdClient: base + 1, EtcdPeer: base + 2, EtcdMetrics: base + 3,
			Kubelet: base + 4, KubeletHealth: base + 5, ControllerMgr: base + 6, Scheduler: base + 7,
			ProxyHealth: base + 8, ProxyMetrics: base + 9, DNSReady: base + 10},
		subnetStart: 1 + n%60,
	}
}

// Subnets of one cluster: pods on the CNI bridge, and the service range.
type Subnets struct {
	Pods     netip.Prefix `json:"pods"`
	Services netip.Prefix `json:"services"`
}

// Gateway is the bridge's address: the host's side of the pod network, where
// CoreDNS listens.
func (s Subnets) Gateway() netip.Addr { return s.Pods.Addr().Next() }

// APIServiceIP is the "kubernetes" Service's ClusterIP (first of the range).
func (s Subnets) APIServiceIP() netip.Addr { return s.Services.Addr().Next() }

// candidate k is pods 10.(64+k).0.0/16 and services 10.(128+k).0.0/16.
func candidate(k int) Subnets {
	return Subnets{
		Pods:     netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + k), 0, 0}), 16),
		Services: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + k), 0, 0}), 16),
	}
}

// pickSubnets returns the first candidate, from the identity's own, that
// overlaps no address or route on the host.
func (id Identity) pickSubnets() (Subnets, error) {
	used, err := hostPrefixes()
	if err != nil {
		return Subnets{}, err
	}
	for i := 0; i < 64; i++ {
		c := candidate((id.subnetStart + i) % 64)
		free := true
		for _, u := range used {
			if u.Overlaps(c.Pods) || u.Overlaps(c.Services) {
				free = false
				break
			}
		}
		if free {
			return c, nil
		}
	}
	return Subnets{}, fmt.Errorf("no free subnet in 10.64.0.0/10 for pods and services: every candidate overlaps an address or route of this host")
}

// hostPrefixes lists the prefixes of the host's interface addresses (routes
// go through netlink in host.go).
func hostPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(ipn.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
				out = append(out, p.Masked())
			}
		}
	}
	return append(out, hostRoutes()...), nil
}
