package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/google/nftables"
)

// hostRoutes lists the host's routed IPv4 prefixes (nil when unreadable).
func hostRoutes() []netip.Prefix {
	r, _ := bridge.HostRoutes()
	return r
}

// CNIPlugins the default network config uses.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// preflight checks what `up` needs from the host and says what to do about
// each thing that is missing. It changes nothing.
func (m *Manager) preflight(id Identity) error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "berthd must run as root to run a cluster (kubelet, kube-proxy and CNI change the host's network and cgroups)")
	}
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(m.cfg.CNIBinDir, p)); err != nil {
			problems = append(problems, fmt.Sprintf("CNI plugin %s is missing in %s: install Debian's containernetworking-plugins (apt-get install containernetworking-plugins)", p, m.cfg.CNIBinDir))
			break
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		problems = append(problems, "iptables is missing (pod traffic needs an ACCEPT rule where Docker's FORWARD policy is DROP, and CNI masquerades with it): apt-get install iptables")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		problems = append(problems, "nft is missing (kube-proxy's nftables mode runs it): apt-get install nftables")
	}
	for _, p := range id.Ports.list() {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port))
		if err != nil {
			problems = append(problems, fmt.Sprintf("port %d (%s) is in use: stop what listens there (ss -ltnp 'sport = :%d')", p.Port, p.Name, p.Port))
			continue
		}
		l.Close()
	}
	hier, err := cgroupHierarchies()
	if err != nil || len(hier) == 0 {
		problems = append(problems, "no cgroup hierarchy found under /sys/fs/cgroup: mount the cgroup controllers")
	}
	for _, h := range hier {
		probe := filepath.Join(h, ".berth-cluster-probe-"+strconv.Itoa(os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err != nil {
			problems = append(problems, fmt.Sprintf("cgroup hierarchy %s is not writable (%v): mount it read-write", h, err))
			continue
		}
		os.Remove(probe)
	}
	if conn, err := nftables.New(); err == nil {
		tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err == nil {
			for _, t := range tables {
				if t.Name == "kube-proxy" {
					problems = append(problems, "the nft table \"ip kube-proxy\" exists: another cluster's kube-proxy owns it (kube-proxy cannot rename its table); run `cluster down` on the daemon that owns it, or `nft delete table ip kube-proxy` if it is stale")
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot bring the cluster up:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return nil
}

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 controllers and
// the cgroup2 mount) by their mount points.
func cgroupHierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fstype := fields[sep+1]; fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		mp := fields[4]
		if !strings.HasPrefix(mp, "/sys/fs/cgroup") || seen[mp] {
			continue
		}
		seen[mp] = true
		out = append(out, mp)
	}
	sort.Strings(out)
	return out, sc.Err()
}

// makeCgroupRoot creates the kubelet's cgroup root in every hierarchy (the
// kubelet refuses a root that does not exist) and gives a v1 cpuset its
// parent's CPUs and memory nodes, which a new cpuset cgroup lacks.
func makeCgroupRoot(root string) ([]string, error) {
	hier, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	var made []string
	for _, h := range hier {
		dir := filepath.Join(h, root)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return made, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		made = append(made, dir)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if cur, _ := os.ReadFile(filepath.Join(dir, f)); len(strings.TrimSpace(string(cur))) == 0 {
					os.WriteFile(filepath.Join(dir, f), b, 0o644)
				}
			}
		}
	}
	return made, nil
}

// removeCgroupTree removes dir and every cgroup below it, deepest first,
// retrying while the last processes leave them.
func removeCgroupTree(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var dirs []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if len(dirs) == 0 {
			return nil
		}
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		var last error
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				last = err
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forwardRules are the iptables FORWARD rules that let pod traffic through
// where Docker set the chain's policy to DROP (br_netfilter sends bridged
// frames through it too). Each carries a comment naming the cluster.
func forwardRules(br, comment string) [][]string {
	return [][]string{
		{"FORWARD", "-i", br, "-m", "comment", "--comment", comment, "-j", "ACCEPT"},
		{"FORWARD", "-o", br, "-m", "comment", "--comment", comment, "-j", "ACCEPT"},
	}
}

// masqRule is the one nat rule that masquerades pod traffic leaving the
// pod network (not multicast), as the CNI bridge plugin's ipMasq does per
// pod with a chain of its own.
func masqRule(subnet, comment string) []string {
	return []string{"POSTROUTING", "-s", subnet, "!", "-d", subnet, "-m", "addrtype", "!", "--dst-type", "MULTICAST",
		"-m", "comment", "--comment", comment, "-j", "MASQUERADE"}
}

func addMasqRule(subnet, comment string) error {
	r := masqRule(subnet, comment)
	if iptables(append([]string{"-t", "nat", "-C"}, r...)...) == nil {
		return nil
	}
	return iptables(append([]string{"-t", "nat", "-A"}, r...)...)
}

func removeMasqRule(subnet, comment string) error {
	r := masqRule(subnet, comment)
	for i := 0; i < 10 && iptables(append([]string{"-t", "nat", "-C"}, r...)...) == nil; i++ {
		if err := iptables(append([]string{"-t", "nat", "-D"}, r...)...); err != nil {
			return err
		}
	}
	return nil
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func addForwardRules(br, comment string) error {
	for _, r := range forwardRules(br, comment) {
		if iptables(append([]string{"-C"}, r...)...) == nil {
			continue
		}
		if err := iptables(append([]string{"-I"}, r...)...); err != nil {
			return err
		}
	}
	return nil
}

func removeForwardRules(br, comment string) error {
	var errs []error
	for _, r := range forwardRules(br, comment) {
		for i := 0; i < 10 && iptables(append([]string{"-C"}, r...)...) == nil; i++ {
			if err := iptables(append([]string{"-D"}, r...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// deleteNftTable removes a table kube-proxy made (missing is fine).
func deleteNftTable(family nftables.TableFamily, name string) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	tables, err := conn.ListTablesOfFamily(family)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name == name {
			conn.DelTable(t)
			return conn.Flush()
		}
	}
	return nil
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostSysctls are the kernel settings the kubelet and kube-proxy may change
// (the kubelet sets its "kernel tunables" unless protectKernelDefaults
// makes it refuse to start). `up` records them and `down` puts them back.
var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables", "net/netfilter/nf_conntrack_max",
}

func readSysctls() map[string]string {
	out := map[string]string{}
	for _, k := range hostSysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			out[k] = strings.TrimSpace(string(b))
		}
	}
	return out
}

func restoreSysctls(saved map[string]string) error {
	var errs []error
	for k, v := range saved {
		cur, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil || strings.TrimSpace(string(cur)) == v {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
		}
	}
	return errors.Join(errs...)
}

// removeLogLinks deletes the kubelet's /var/log/containers links that point
// into this cluster's pod log directory (the path of that directory is fixed
// in the kubelet; the links of other kubelets are left alone).
func removeLogLinks(podLogs string) {
	entries, err := os.ReadDir("/var/log/containers")
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join("/var/log/containers", e.Name())
		if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, podLogs+"/") {
			os.Remove(p)
		}
	}
}

// unmount detaches a mount point, lazily when it is busy.
func unmount(mp string) error {
	if err := syscall.Unmount(mp, 0); err == nil || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	return nil
}
