package oci

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultCPUPeriod is the CFS period used for --cpus, as in Docker.
const DefaultCPUPeriod = 100000

// Resources maps Docker's resource settings onto cgroup settings. It is
// also used by `docker update`, so zero values mean "not set" and produce
// nil fields. Docker's create-time default of swap = 2 x memory is applied
// by the daemon to the HostConfig, not here.
func Resources(r *container.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	if r == nil {
		return out
	}
	if m := memory(r); m != nil {
		out.Memory = m
	}
	if c := cpu(r); c != nil {
		out.CPU = c
	}
	if r.PidsLimit != nil {
		// Docker: 0 or -1 means unlimited, which the runtime spells -1.
		limit := *r.PidsLimit
		if limit <= 0 {
			limit = -1
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		out.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return out
}

func memory(r *container.Resources) *specs.LinuxMemory {
	var m specs.LinuxMemory
	set := false
	if r.Memory > 0 {
		m.Limit, set = ptr(r.Memory), true
	}
	if r.MemorySwap != 0 {
		m.Swap, set = ptr(r.MemorySwap), true
	}
	if r.MemoryReservation > 0 {
		m.Reservation, set = ptr(r.MemoryReservation), true
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		v := uint64(*r.MemorySwappiness)
		m.Swappiness, set = &v, true
	}
	if r.OomKillDisable != nil {
		m.DisableOOMKiller, set = r.OomKillDisable, true
	}
	if !set {
		return nil
	}
	return &m
}

func cpu(r *container.Resources) *specs.LinuxCPU {
	var c specs.LinuxCPU
	set := false
	if r.CPUShares > 0 {
		v := uint64(r.CPUShares)
		c.Shares, set = &v, true
	}
	switch {
	case r.NanoCPUs > 0:
		// --cpus N is quota N*period over Docker's fixed 100ms period.
		p := uint64(DefaultCPUPeriod)
		c.Period, c.Quota, set = &p, ptr(r.NanoCPUs*DefaultCPUPeriod/1e9), true
	default:
		if r.CPUPeriod > 0 {
			p := uint64(r.CPUPeriod)
			c.Period, set = &p, true
		}
		if r.CPUQuota > 0 {
			c.Quota, set = ptr(r.CPUQuota), true
		}
	}
	if r.CPURealtimePeriod > 0 {
		v := uint64(r.CPURealtimePeriod)
		c.RealtimePeriod, set = &v, true
	}
	if r.CPURealtimeRuntime != 0 {
		c.RealtimeRuntime, set = ptr(r.CPURealtimeRuntime), true
	}
	if r.CpusetCpus != "" {
		c.Cpus, set = r.CpusetCpus, true
	}
	if r.CpusetMems != "" {
		c.Mems, set = r.CpusetMems, true
	}
	if !set {
		return nil
	}
	return &c
}

func ptr(v int64) *int64 { return &v }

// WithResources sets cgroup limits, the device allow-list, OOM score,
// sysctls and rlimits.
func WithResources(_ context.Context, s *specs.Spec, in *Input) error {
	hc := in.HostConfig
	if hc.NanoCPUs > 0 && (hc.CPUPeriod > 0 || hc.CPUQuota > 0) {
		return errdefs.Invalidf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	res := Resources(&hc.Resources)
	if res.Pids != nil && *res.Pids.Limit < 0 {
		// A fresh cgroup is unlimited already; crun would write "-1"
		// to pids.max, which the kernel refuses.
		res.Pids = nil
	}
	res.Devices = deviceRules(hc.Privileged)
	if err := withBlkioDevices(res, &hc.Resources); err != nil {
		return err
	}
	s.Linux.Resources = res
	if hc.OomScoreAdj != 0 {
		v := hc.OomScoreAdj
		s.Process.OOMScoreAdj = &v
	}
	if err := checkSysctls(hc.Sysctls, in); err != nil {
		return err
	}
	s.Linux.Sysctl = copyMap(hc.Sysctls)
	rl, err := rlimits(hc.Ulimits)
	if err != nil {
		return err
	}
	s.Process.Rlimits = rl
	return nil
}

// deviceRules is Docker's device cgroup: deny everything, then allow mknod
// of any node and use of the standard character devices. runc creates the
// nodes themselves. Privileged containers may use every device.
func deviceRules(privileged bool) []specs.LinuxDeviceCgroup {
	if privileged {
		return []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	dev := func(t string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: t, Access: access}
		if major >= 0 {
			d.Major = ptr(major)
		}
		if minor >= 0 {
			d.Minor = ptr(minor)
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev("c", -1, -1, "m"),
		dev("b", -1, -1, "m"),
		dev("c", 1, 3, "rwm"),    // /dev/null
		dev("c", 1, 8, "rwm"),    // /dev/random
		dev("c", 1, 7, "rwm"),    // /dev/full
		dev("c", 5, 0, "rwm"),    // /dev/tty
		dev("c", 5, 1, "rwm"),    // /dev/console
		dev("c", 1, 5, "rwm"),    // /dev/zero
		dev("c", 1, 9, "rwm"),    // /dev/urandom
		dev("c", 136, -1, "rwm"), // /dev/pts/*
		dev("c", 5, 2, "rwm"),    // /dev/ptmx
		dev("c", 10, 200, "rwm"), // /dev/net/tun
	}
}

// checkSysctls refuses sysctls that would change the host: network ones
// when sharing the host's network namespace, IPC ones when sharing its IPC
// namespace. runc refuses the others that are not namespaced.
func checkSysctls(sysctls map[string]string, in *Input) error {
	for k := range sysctls {
		if in.NetNS == "host" && strings.HasPrefix(k, "net.") {
			return errdefs.Invalidf("sysctl %q not allowed in host network namespace", k)
		}
		ipc := strings.HasPrefix(k, "fs.mqueue.") || strings.HasPrefix(k, "kernel.msg") ||
			strings.HasPrefix(k, "kernel.sem") || strings.HasPrefix(k, "kernel.shm")
		if in.IpcNS == "host" && ipc {
			return errdefs.Invalidf("sysctl %q not allowed with host IPC namespace", k)
		}
	}
	return nil
}

var rlimitNames = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
	"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS,
	"memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC,
	"rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// rlimits converts --ulimit values, clamped to this process's hard limits:
// without CAP_SYS_RESOURCE runc cannot raise a hard limit, and the start
// would fail.
func rlimits(ul []*container.Ulimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	for _, u := range ul {
		if u == nil {
			continue
		}
		res, ok := rlimitNames[strings.ToLower(u.Name)]
		if !ok {
			return nil, errdefs.Invalidf("invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard {
			return nil, errdefs.Invalidf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
		soft, hard := uint64(u.Soft), uint64(u.Hard)
		var cur unix.Rlimit
		if err := unix.Getrlimit(res, &cur); err != nil {
			return nil, fmt.Errorf("getrlimit %s: %w", u.Name, err)
		}
		if u.Hard < 0 || hard > cur.Max {
			hard = cur.Max
		}
		if u.Soft < 0 || soft > hard {
			soft = hard
		}
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Hard: hard, Soft: soft})
	}
	return out, nil
}
