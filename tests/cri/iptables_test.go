package cri

import (
	"os/exec"
	"strings"
)

// The portmap plugin leaves its shared nat chains (CNI-HOSTPORT-*) and the
// jumps to them in place after the last pod is gone. The suite removes
// them when it created them and no pod of anyone else uses them.
var hostportChains = []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"}

func natChainExists(chain string) bool {
	return exec.Command("iptables", "-w", "-t", "nat", "-S", chain).Run() == nil
}

// hostportChainsPresent reports whether portmap's chains exist now.
func hostportChainsPresent() bool { return natChainExists("CNI-HOSTPORT-DNAT") }

// removeHostportChains deletes portmap's chains if the DNAT chain holds no
// pod's rule any more.
func removeHostportChains() {
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "-A ") {
			return // still in use
		}
	}
	all, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(all), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "-A" || !strings.Contains(l, "-j CNI-HOSTPORT-") {
			continue
		}
		isOwn := false
		for _, c := range hostportChains {
			if f[1] == c {
				isOwn = true
			}
		}
		if !isOwn {
			// The rule as iptables -S prints it, quotes included: the
			// shell splits it as iptables expects.
			exec.Command("sh", "-c", "iptables -w -t nat -D "+strings.TrimPrefix(l, "-A ")).Run()
		}
	}
	for _, c := range hostportChains {
		exec.Command("iptables", "-w", "-t", "nat", "-F", c).Run()
	}
	for _, c := range hostportChains {
		exec.Command("iptables", "-w", "-t", "nat", "-X", c).Run()
	}
}
