// Package bridge makes the kernel objects of a bridge network: the bridge
// device, network namespaces bind-mounted at a path (so they exist before
// the runtime starts and outlive the process that made them), and veth
// pairs with one end on the bridge and the other as eth0 in the namespace.
package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Ensure creates the bridge with gateway/prefix (and mtu unless 0) and
// brings it up; an existing bridge of that name is reused. route_localnet
// lets DNATed 127.0.0.1 traffic be routed to the bridge.
func Ensure(name string, gw netip.Prefix, mtu int) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set %s mtu %d: %w", name, mtu, err)
		}
	}
	addr := &netlink.Addr{IPNet: ipNet(gw)}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("set %s address %s: %w", name, gw, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	if err := Sysctl("net/ipv4/conf/"+name+"/route_localnet", "1"); err != nil {
		return err
	}
	return Sysctl("net/ipv4/ip_forward", "1")
}

// Delete removes a link (a bridge, or a veth with its peer); a missing link
// is fine.
func Delete(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// RemoveAddr takes addr off the link name; a missing link or address is
// fine.
func RemoveAddr(name string, addr netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(addr)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from %s: %w", addr, name, err)
	}
	return nil
}

// Exists reports whether a link of that name exists.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// Sysctl writes /proc/sys/<key>.
func Sysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// HostRoutes returns the IPv4 destinations routed on the host, which new
// networks must not overlap.
func HostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue // the default route overlaps everything by design
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if ones == 0 {
			continue // newer kernels/libraries report the default route as 0.0.0.0/0
		}
		out = append(out, netip.PrefixFrom(a, ones))
	}
	return out, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// EnsureIPv6 gives an existing bridge IPv6 addresses (its gateway with the
// subnet's prefix, and fe80::1/64 as dockerd's bridges have), without
// duplicate address detection so they are usable at once, and turns on
// IPv6 forwarding as dockerd does for IPv6 networks.
func EnsureIPv6(name string, gw netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := Sysctl("net/ipv6/conf/"+name+"/disable_ipv6", "0"); err != nil {
		return err
	}
	for _, p := range []netip.Prefix{gw, netip.MustParsePrefix("fe80::1/64")} {
		if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("set %s address %s: %w", name, p, err)
		}
	}
	return Sysctl("net/ipv6/conf/all/forwarding", "1")
}

// NewNetNS creates a network namespace and bind-mounts it at path. The
// unshare happens on a locked thread that is returned to the original
// namespace afterwards; if that fails the thread is left locked so the Go
// runtime discards it instead of reusing a thread in the wrong namespace.
func NewNetNS(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	errCh := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errCh <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errCh <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			errCh <- errors.Join(merr, err) // thread stays locked: it dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errCh <- merr
	}()
	if err := <-errCh; err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	return nil
}

// DeleteNetNS unmounts and removes a namespace made by NewNetNS.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Endpoint describes one interface to put in a namespace.
type Endpoint struct {
	HostIfName string // veth end on the bridge
	IfName     string // name inside, e.g. "eth0"
	Bridge     string
	Addr       netip.Prefix // container address with the network's prefix length
	Gateway    netip.Addr   // zero: no default route (not the gateway network)
	MAC        net.HardwareAddr
	MTU        int // both ends; 0: the default
	// IPv6 networks: the address and the default route's gateway.
	Addr6    netip.Prefix
	Gateway6 netip.Addr
	// LinkLocal are extra link-local addresses (--link-local-ip).
	LinkLocal []netip.Prefix
}

// AddEndpoint creates the veth pair, attaches the host end to the bridge
// and configures the namespace end. On failure nothing is left.
func AddEndpoint(nsPath string, ep Endpoint) (err error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(ep.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", ep.Bridge, err)
	}
	peerTmp := "p" + ep.HostIfName
	if len(peerTmp) > 15 {
		peerTmp = peerTmp[:15]
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ep.HostIfName, MasterIndex: br.Attrs().Index, MTU: ep.MTU},
		PeerName:      peerTmp,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if ep.MAC != nil {
		veth.PeerHardwareAddr = ep.MAC
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", ep.HostIfName, err)
	}
	defer func() {
		if err != nil {
			Delete(ep.HostIfName)
		}
	}()
	host, err := netlink.LinkByName(ep.HostIfName)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring %s up: %w", ep.HostIfName, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	return configureInside(h, peerTmp, ep)
}

func configureInside(h *netlink.Handle, peer string, ep Endpoint) error {
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring lo up: %w", err)
		}
	}
	link, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(link, ep.IfName); err != nil {
		return fmt.Errorf("rename %s to %s: %w", peer, ep.IfName, err)
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(ep.Addr)}); err != nil {
		return fmt.Errorf("set address %s: %w", ep.Addr, err)
	}
	extra := slices.Clone(ep.LinkLocal)
	if ep.Addr6.IsValid() {
		extra = append([]netip.Prefix{ep.Addr6}, extra...)
	}
	for _, p := range extra {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("set address %s: %w", p, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", ep.IfName, err)
	}
	for _, gw := range []netip.Addr{ep.Gateway, ep.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
			return fmt.Errorf("add default route via %s: %w", gw, err)
		}
	}
	return nil
}

// NextIfName returns the first unused "eth<N>" inside the namespace.
func NextIfName(nsPath string) (string, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", err
	}
	defer h.Close()
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if _, err := h.LinkByName(name); err != nil {
			return name, nil
		}
	}
}
