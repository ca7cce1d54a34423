package runtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

func TestStatsAndConversion(t *testing.T) {
	// Burn a little CPU so the second sample's usage moves.
	c := startContainer(t, "sh", "-c", "while true; do :; done")
	ctx := ctxT(t)
	st, err := c.rt.State(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := c.rt.Stats(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Memory.Usage.Usage == 0 || s1.Pids.Current < 1 || s1.CPU.Usage.Total == 0 {
		t.Fatalf("sample: mem %d pids %d cpu %d", s1.Memory.Usage.Usage, s1.Pids.Current, s1.CPU.Usage.Total)
	}
	r1 := ToStatsResponse(s1, nil, st.Pid, time.Now())
	time.Sleep(300 * time.Millisecond)
	s2, err := c.rt.Stats(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	r2 := ToStatsResponse(s2, r1, st.Pid, time.Now())

	if r2.PreRead != r1.Read || r2.PreCPUStats.CPUUsage.TotalUsage != s1.CPU.Usage.Total {
		t.Fatalf("precpu not taken from the previous sample")
	}
	// docker CLI's formula: (Δcontainer / Δsystem) * online CPUs * 100.
	cpuDelta := float64(r2.CPUStats.CPUUsage.TotalUsage - r2.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(r2.CPUStats.SystemUsage - r2.PreCPUStats.SystemUsage)
	if sysDelta <= 0 || r2.CPUStats.OnlineCPUs == 0 {
		t.Fatalf("system usage %d -> %d, online %d", r2.PreCPUStats.SystemUsage, r2.CPUStats.SystemUsage, r2.CPUStats.OnlineCPUs)
	}
	pct := cpuDelta / sysDelta * float64(r2.CPUStats.OnlineCPUs) * 100
	// The loop's share depends on what else the (shared) machine runs, so
	// the lower bound only says it ran: 18% was seen under a load of 40.
	if pct < 1 || pct > 100*float64(r2.CPUStats.OnlineCPUs)+5 {
		t.Fatalf("busy loop CPU%% = %.1f", pct)
	}

	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	host := uint64(si.Totalram) * uint64(si.Unit)
	if r2.MemoryStats.Limit != host {
		t.Fatalf("unlimited container: limit %d, want host RAM %d", r2.MemoryStats.Limit, host)
	}
	if r2.MemoryStats.Usage == 0 {
		t.Fatal("memory usage 0")
	}
	if _, ok := r2.MemoryStats.Stats["total_inactive_file"]; !ok {
		if _, ok := r2.MemoryStats.Stats["inactive_file"]; !ok {
			t.Fatalf("no inactive_file in memory stats: %v", r2.MemoryStats.Stats)
		}
	}
	if r2.PidsStats.Current < 1 {
		t.Fatalf("pids %+v", r2.PidsStats)
	}
	// The container has its own netns with only lo: networks is omitted.
	if r2.Networks != nil {
		t.Fatalf("networks %v", r2.Networks)
	}
	b, _ := json.Marshal(r2)
	if !strings.Contains(string(b), `"io_service_bytes_recursive":[]`) || strings.Contains(string(b), `"networks"`) {
		t.Fatalf("wire form: %s", b)
	}
}

func TestNetworksFromProcNetDev(t *testing.T) {
	ifs := []*NetworkInterface{{Name: "lo", RxBytes: 1}, {Name: "eth0", RxBytes: 1086, RxPackets: 13, TxBytes: 5}}
	got := networks(ifs, 0)
	want := map[string]container.NetworkStats{"eth0": {RxBytes: 1086, RxPackets: 13, TxBytes: 5}}
	if len(got) != 1 || got["eth0"] != want["eth0"] {
		t.Fatalf("got %v", got)
	}
	// Our own /proc/self/net/dev parses and includes lo.
	parsed := readNetDev("/proc/self/net/dev")
	foundLo := false
	for _, i := range parsed {
		foundLo = foundLo || i.Name == "lo"
	}
	if !foundLo {
		t.Fatalf("lo not parsed from /proc/self/net/dev: %v", parsed)
	}
}
