package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of cpuacct.stat (USER_HZ is 100 on Linux).
const userHZ = 100

// CgroupV1Stats reads a container's statistics straight from its cgroup v1
// hierarchies under root (normally /sys/fs/cgroup), cgroupsPath being the
// spec's linux.cgroupsPath. It is what `runc events --stats` reports, read
// without starting a runtime process (which crun cannot do at all here).
// ErrNoCgroupV1 means the host has no v1 memory hierarchy.
func CgroupV1Stats(root, cgroupsPath string) (*Stats, error) {
	mem := filepath.Join(root, "memory", cgroupsPath)
	if _, err := os.Stat(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCgroupV1, err)
	}
	s := &Stats{}
	cpuacct := filepath.Join(root, "cpuacct", cgroupsPath)
	s.CPU.Usage.Total = readUint(filepath.Join(cpuacct, "cpuacct.usage"))
	for _, f := range strings.Fields(readString(filepath.Join(cpuacct, "cpuacct.usage_percpu"))) {
		v, _ := strconv.ParseUint(f, 10, 64)
		s.CPU.Usage.Percpu = append(s.CPU.Usage.Percpu, v)
	}
	kv := readKV(filepath.Join(cpuacct, "cpuacct.stat"))
	s.CPU.Usage.User = kv["user"] * (1e9 / userHZ)
	s.CPU.Usage.Kernel = kv["system"] * (1e9 / userHZ)
	th := readKV(filepath.Join(root, "cpu", cgroupsPath, "cpu.stat"))
	s.CPU.Throttling = Throttling{Periods: th["nr_periods"], ThrottledPeriods: th["nr_throttled"], ThrottledTime: th["throttled_time"]}

	s.Memory.Usage = MemoryEntry{
		Usage:   readUint(filepath.Join(mem, "memory.usage_in_bytes")),
		Limit:   readUint(filepath.Join(mem, "memory.limit_in_bytes")),
		Max:     readUint(filepath.Join(mem, "memory.max_usage_in_bytes")),
		Failcnt: readUint(filepath.Join(mem, "memory.failcnt")),
	}
	s.Memory.Raw = readKV(filepath.Join(mem, "memory.stat"))
	s.Memory.Cache = s.Memory.Raw["cache"]

	pids := filepath.Join(root, "pids", cgroupsPath)
	s.Pids.Current = readUint(filepath.Join(pids, "pids.current"))
	if v := readString(filepath.Join(pids, "pids.max")); v != "max" {
		s.Pids.Limit, _ = strconv.ParseUint(v, 10, 64)
	}
	blk := filepath.Join(root, "blkio", cgroupsPath)
	s.Blkio.IoServiceBytesRecursive = readBlkio(filepath.Join(blk, "blkio.throttle.io_service_bytes_recursive"))
	s.Blkio.IoServicedRecursive = readBlkio(filepath.Join(blk, "blkio.throttle.io_serviced_recursive"))
	return s, nil
}

// ErrNoCgroupV1 is returned by CgroupV1Stats on a host without v1 memory.
var ErrNoCgroupV1 = errors.New("no cgroup v1 memory hierarchy")

func readString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readUint(p string) uint64 {
	v, _ := strconv.ParseUint(readString(p), 10, 64)
	return v
}

// readKV reads "key value" lines.
func readKV(p string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(p)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// readBlkio reads "MAJ:MIN Op value" lines (the "Total" line is skipped).
func readBlkio(p string) []BlkioEntry {
	var out []BlkioEntry
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(fields[0], ":")
		if !ok {
			continue
		}
		e := BlkioEntry{Op: fields[1]}
		e.Major, _ = strconv.ParseUint(maj, 10, 64)
		e.Minor, _ = strconv.ParseUint(min, 10, 64)
		e.Value, _ = strconv.ParseUint(fields[2], 10, 64)
		out = append(out, e)
	}
	return out
}
