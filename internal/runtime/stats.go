package runtime

import (
	"context"
	"encoding/json"
	"fmt"
)

// Stats is the data of one `runtime events --stats` event: runc's
// libcontainer stats as they come on the wire (crun emits the same shape).
type Stats struct {
	CPU               CPU                 `json:"cpu"`
	Memory            Memory              `json:"memory"`
	Pids              Pids                `json:"pids"`
	Blkio             Blkio               `json:"blkio"`
	NetworkInterfaces []*NetworkInterface `json:"network_interfaces"`
}

// CPU is in nanoseconds.
type CPU struct {
	Usage      CPUUsage   `json:"usage"`
	Throttling Throttling `json:"throttling"`
}

type CPUUsage struct {
	Total        uint64   `json:"total"`
	Percpu       []uint64 `json:"percpu"`
	PercpuKernel []uint64 `json:"percpu_kernel"`
	PercpuUser   []uint64 `json:"percpu_user"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type Throttling struct {
	Periods          uint64 `json:"periods"`
	ThrottledPeriods uint64 `json:"throttledPeriods"`
	ThrottledTime    uint64 `json:"throttledTime"`
}

type Memory struct {
	Cache     uint64      `json:"cache"`
	Usage     MemoryEntry `json:"usage"`
	Swap      MemoryEntry `json:"swap"`
	Kernel    MemoryEntry `json:"kernel"`
	KernelTCP MemoryEntry `json:"kernelTCP"`
	// Raw is the cgroup's memory.stat (v1 keys like total_inactive_file,
	// v2 keys like inactive_file); Docker passes it through as "stats".
	Raw map[string]uint64 `json:"raw"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage"`
	Max     uint64 `json:"max"`
	Failcnt uint64 `json:"failcnt"`
}

type Pids struct {
	Current uint64 `json:"current"`
	Limit   uint64 `json:"limit"`
}

type BlkioEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive"`
}

type NetworkInterface struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// Stats samples the container's cgroups once.
func (r *Runtime) Stats(ctx context.Context, id string) (*Stats, error) {
	out, err := r.run(ctx, nil, "events", "--stats", id)
	if err != nil {
		return nil, err
	}
	var ev struct {
		Type string `json:"type"`
		Data *Stats `json:"data"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		return nil, fmt.Errorf("%s events --stats: %w", r.Name, err)
	}
	if ev.Type != "stats" || ev.Data == nil {
		return nil, fmt.Errorf("%s events --stats: unexpected event %q", r.Name, ev.Type)
	}
	return ev.Data, nil
}
