package oci

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities returns Docker's default capability set.
func DefaultCapabilities() []string {
	return append([]string(nil), defaultCapabilities...)
}

var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCapabilities lists Linux capabilities by number (index = cap number).
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// hostCapabilities is every capability the running kernel knows and
// berthd's own bounding set holds: asking the runtime for one the kernel
// lacks, or one a sandboxed daemon was started without (no
// CAP_SYS_RESOURCE here), fails the start with "capset: Operation not
// permitted". containerd's privileged containers get its current set too.
func hostCapabilities() []string {
	known := allCapabilities
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if last, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && last >= 0 && last < len(allCapabilities) {
			known = allCapabilities[:last+1]
		}
	}
	bnd, ok := boundingSet()
	if !ok {
		return known
	}
	out := make([]string, 0, len(known))
	for i, c := range known {
		if bnd&(1<<uint(i)) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// boundingSet reads this process's capability bounding set.
func boundingSet() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// normalizeCap turns "net_admin" or "CAP_NET_ADMIN" into "CAP_NET_ADMIN";
// "ALL" stays "ALL".
func normalizeCap(c string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(c))
	if u == "ALL" {
		return u, nil
	}
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	for _, k := range allCapabilities {
		if k == u {
			return u, nil
		}
	}
	return "", errdefs.Invalidf("unknown capability: %q", u)
}

func normalizeCaps(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, c := range in {
		n, err := normalizeCap(c)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Capabilities applies Docker's rules: privileged gets everything; "ALL" in
// add means everything but the drops; "ALL" in drop means only the adds;
// otherwise defaults minus drops plus adds.
func Capabilities(privileged bool, add, drop []string) ([]string, error) {
	if privileged {
		return hostCapabilities(), nil
	}
	a, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	d, err := normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case contains(a, "ALL"):
		for _, c := range hostCapabilities() {
			if !contains(d, c) {
				caps = append(caps, c)
			}
		}
	case contains(d, "ALL"):
		caps = a
	default:
		for _, c := range defaultCapabilities {
			if !contains(d, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, a...)
	}
	return dedup(caps), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func dedup(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s != "ALL" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// WithCapabilities sets the bounding, effective and permitted sets. The
// inheritable set stays empty, as in Docker since CVE-2022-24769.
func WithCapabilities(_ context.Context, s *specs.Spec, in *Input) error {
	caps, err := Capabilities(in.HostConfig.Privileged, in.HostConfig.CapAdd, in.HostConfig.CapDrop)
	if err != nil {
		return err
	}
	s.Process.Capabilities = capSet(caps)
	return nil
}

func capSet(caps []string) *specs.LinuxCapabilities {
	return &specs.LinuxCapabilities{
		Bounding:  caps,
		Effective: append([]string(nil), caps...),
		Permitted: append([]string(nil), caps...),
	}
}
