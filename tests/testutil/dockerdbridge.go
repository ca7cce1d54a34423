package testutil

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// privateDockerdBridge creates the bridge a private test dockerd uses as its
// default network, and returns its name.
//
// The private dockerd must not run with --bridge=none: dockerd then deletes
// any link named docker0 at start (moby's removeDefaultBridgeInterface), which
// took the host dockerd's bridge away every time a test or the bench started
// one. With --bridge=NAME it uses a bridge we own and leaves docker0 alone.
func privateDockerdBridge(dir string) (string, error) {
	name := "b" + filepath.Base(dir)
	if len(name) > 15 {
		name = name[:15]
	}
	cidr, err := freeSubnet()
	if err != nil {
		return "", err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return "", fmt.Errorf("private dockerd bridge %s: %w", name, err)
	}
	addr, _ := netlink.ParseAddr(cidr)
	if err := netlink.AddrAdd(br, addr); err != nil {
		_ = netlink.LinkDel(br)
		return "", fmt.Errorf("private dockerd bridge %s address %s: %w", name, cidr, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		_ = netlink.LinkDel(br)
		return "", fmt.Errorf("private dockerd bridge %s up: %w", name, err)
	}
	return name, nil
}

// freeSubnet picks a /24 in 10.252.0.0/16 that no host route overlaps.
func freeSubnet() (string, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("route list: %w", err)
	}
	for i := 1; i < 255; i++ {
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.252.%d.0/24", i))
		free := true
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if ones, _ := r.Dst.Mask.Size(); ones == 0 {
				continue // the default route
			}
			if r.Dst.Contains(cand.IP) || cand.Contains(r.Dst.IP) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("10.252.%d.1/24", i), nil
		}
	}
	return "", errors.New("no free /24 in 10.252.0.0/16 for a private dockerd bridge")
}

// removePrivateBridge deletes a bridge made by privateDockerdBridge.
func removePrivateBridge(name string) error {
	if name == "" || !strings.HasPrefix(name, "bdt") {
		return nil
	}
	out, err := exec.Command("ip", "link", "del", name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") {
		return fmt.Errorf("remove private dockerd bridge %s: %v: %s", name, err, out)
	}
	return nil
}
