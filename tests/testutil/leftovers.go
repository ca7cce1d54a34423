package testutil

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/hostfw"
	"golang.org/x/sys/unix"
)

// MountsUnder lists mount points in /proc/self/mountinfo at or below dir.
func MountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
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
	return out, sc.Err()
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// UnmountUnder lazily unmounts everything below dir, deepest first.
func UnmountUnder(dir string) error {
	mps, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	var firstErr error
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	return firstErr
}

// ProcsWithArg returns pids whose command line has an argument equal to
// exe (argv[0]) or containing sub. Used to find this daemon's monitors and
// shims by their exact binary path or exec root, never by a bare name.
func ProcsWithArg(exe, sub string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if exe != "" && args[0] != exe {
			continue
		}
		if sub != "" && !strings.Contains(string(b), sub) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// CgroupOf returns the cgroup path of pid for a v1 controller (e.g. "memory"),
// or the unified path when controller is "".
func CgroupOf(pid int, controller string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("read cgroup of %d: %w", pid, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if controller == "" && parts[0] == "0" {
			return parts[2], nil
		}
		for _, c := range strings.Split(parts[1], ",") {
			if controller != "" && c == controller {
				return parts[2], nil
			}
		}
	}
	return "", fmt.Errorf("no %q cgroup for pid %d", controller, pid)
}

// SubdirsOf lists the directory names directly below dir (empty when missing).
func SubdirsOf(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// PSS reads the proportional set size in kB of pid from smaps_rollup.
func PSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("smaps_rollup of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Pss:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no Pss in smaps_rollup of %d", pid)
}

// FirewallChain is the iptables chain a berthd on d's data root keeps for
// its bridges, or the one the harness keeps for a private dockerd's
// (dockerdICC).
func (d *Daemon) FirewallChain() string {
	if d.Target == TargetDockerd && d.bridge != "" {
		return iccChain(d.bridge)
	}
	if d.Target != TargetBerthd {
		return ""
	}
	_, table := network.DefaultNames(d.Root)
	return hostfw.ChainName(table)
}

// IptablesLeftovers lists the iptables and ip6tables rules and chains that
// name the daemon's chain or any of bridges: after the daemon has stopped
// there must be none.
func (d *Daemon) IptablesLeftovers(bridges ...string) ([]string, error) {
	words := bridges
	if c := d.FirewallChain(); c != "" {
		words = append(words, c)
	}
	if len(words) == 0 {
		return nil, nil
	}
	return hostfw.RulesMentioning(context.Background(), words...)
}
