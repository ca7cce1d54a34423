package runtime

import (
	"bufio"
	"bytes"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// ToStatsResponse converts a sample into Docker's stats body. prev is the
// previous response for this container (nil for the first), whose CPU
// figures become precpu_stats: the CLI computes CPU% from the deltas of
// total_usage and system_cpu_usage between the two. pid is the
// container's init, used to read its network namespace's counters.
func ToStatsResponse(s *Stats, prev *container.StatsResponse, pid int, now time.Time) *container.StatsResponse {
	r := &container.StatsResponse{Read: now.UTC()}
	if prev != nil {
		r.PreRead = prev.Read
		r.PreCPUStats = prev.CPUStats
	}
	r.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{
			TotalUsage:        s.CPU.Usage.Total,
			PercpuUsage:       s.CPU.Usage.Percpu,
			UsageInKernelmode: s.CPU.Usage.Kernel,
			UsageInUsermode:   s.CPU.Usage.User,
		},
		SystemUsage: systemCPUUsage(),
		OnlineCPUs:  onlineCPUs(),
		ThrottlingData: container.ThrottlingData{
			Periods:          s.CPU.Throttling.Periods,
			ThrottledPeriods: s.CPU.Throttling.ThrottledPeriods,
			ThrottledTime:    s.CPU.Throttling.ThrottledTime,
		},
	}
	r.MemoryStats = memoryStats(&s.Memory)
	r.PidsStats = container.PidsStats{Current: s.Pids.Current, Limit: s.Pids.Limit}
	r.BlkioStats = container.BlkioStats{
		IoServiceBytesRecursive: blkio(s.Blkio.IoServiceBytesRecursive),
		IoServicedRecursive:     blkio(s.Blkio.IoServicedRecursive),
		IoQueuedRecursive:       blkio(s.Blkio.IoQueuedRecursive),
		IoServiceTimeRecursive:  blkio(s.Blkio.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     blkio(s.Blkio.IoWaitTimeRecursive),
		IoMergedRecursive:       blkio(s.Blkio.IoMergedRecursive),
		IoTimeRecursive:         blkio(s.Blkio.IoTimeRecursive),
		SectorsRecursive:        blkio(s.Blkio.SectorsRecursive),
	}
	r.Networks = networks(s.NetworkInterfaces, pid)
	return r
}

func memoryStats(m *Memory) container.MemoryStats {
	ms := container.MemoryStats{
		Usage:    m.Usage.Usage,
		MaxUsage: m.Usage.Max,
		Stats:    m.Raw,
		Failcnt:  m.Usage.Failcnt,
		Limit:    m.Usage.Limit,
	}
	// An unlimited cgroup reports ~2^63; Docker shows host RAM instead.
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		host := uint64(si.Totalram) * uint64(si.Unit)
		if host > 0 && (ms.Limit == 0 || ms.Limit > host) {
			ms.Limit = host
		}
	}
	return ms
}

// blkio copies entries; an empty list stays [] on the wire like dockerd's.
func blkio(in []BlkioEntry) []container.BlkioStatEntry {
	out := make([]container.BlkioStatEntry, 0, len(in))
	for _, e := range in {
		out = append(out, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// clockTicks is USER_HZ, which is 100 on every Linux ABI Go supports.
const clockTicks = 100

// systemCPUUsage is the host's total CPU time in nanoseconds: the sum of
// the "cpu" line of /proc/stat, as dockerd computes it.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:8] {
			n, _ := strconv.ParseUint(v, 10, 64)
			ticks += n
		}
		return ticks * (uint64(time.Second) / clockTicks)
	}
	return 0
}

// onlineCPUs counts the CPUs listed in /sys/devices/system/cpu/online
// ("0-1,3"), falling back to the Go runtime's count.
func onlineCPUs() uint32 {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return uint32(goruntime.NumCPU())
	}
	var n uint32
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		bv := a
		var err2 error
		if isRange {
			bv, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || bv < a {
			return uint32(goruntime.NumCPU())
		}
		n += uint32(bv - a + 1)
	}
	return n
}

// networks reports per-interface counters, omitting loopback like dockerd.
// runc fills NetworkInterfaces only for interfaces it was told about, so
// the container's own /proc/<pid>/net/dev is the usual source. nil (the
// field omitted) when the container has no interface besides lo.
func networks(ifs []*NetworkInterface, pid int) map[string]container.NetworkStats {
	if len(ifs) == 0 && pid > 0 && !sharesHostNetns(pid) {
		ifs = readNetDev("/proc/" + strconv.Itoa(pid) + "/net/dev")
	}
	var out map[string]container.NetworkStats
	for _, i := range ifs {
		if i == nil || i.Name == "lo" {
			continue
		}
		if out == nil {
			out = map[string]container.NetworkStats{}
		}
		out[i.Name] = container.NetworkStats{
			RxBytes: i.RxBytes, RxPackets: i.RxPackets, RxErrors: i.RxErrors, RxDropped: i.RxDropped,
			TxBytes: i.TxBytes, TxPackets: i.TxPackets, TxErrors: i.TxErrors, TxDropped: i.TxDropped,
		}
	}
	return out
}

// sharesHostNetns reports whether pid is in our network namespace
// (--network host): its counters are then the host's, which Docker omits.
func sharesHostNetns(pid int) bool {
	theirs, err1 := os.Stat("/proc/" + strconv.Itoa(pid) + "/ns/net")
	ours, err2 := os.Stat("/proc/self/ns/net")
	return err1 != nil || err2 != nil || os.SameFile(theirs, ours)
}

// readNetDev parses /proc/net/dev: two header lines, then
// "name: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed
// multicast tx_bytes tx_packets tx_errs tx_drop ...".
func readNetDev(path string) []*NetworkInterface {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []*NetworkInterface
	for _, line := range bytes.Split(b, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 12 {
			continue
		}
		v := make([]uint64, 12)
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out = append(out, &NetworkInterface{
			Name:    strings.TrimSpace(string(name)),
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		})
	}
	return out
}
