package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pssKB reads a process's proportional set size from smaps_rollup.
func pssKB(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("no Pss in smaps_rollup of %d", pid)
}

// TestMonitorPSS runs 10 `sleep` containers and reports the memory each
// monitor costs. The text pages of the one binary are shared, so PSS
// divides them among the monitors; the budget is 1 MB each.
func TestMonitorPSS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 10 containers")
	}
	const n = 10
	ctx := testCtx(t)
	var mons []*Monitor
	for i := 0; i < n; i++ {
		e := newEnv(t, []string{"sleep", "300"}, opts{log: true})
		m := e.create(ctx)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		mons = append(mons, m)
	}
	time.Sleep(500 * time.Millisecond) // let each monitor settle after start
	total := 0
	seen := map[int]bool{} // a supervisor serves several containers
	for _, m := range mons {
		if seen[m.procPid] {
			continue
		}
		seen[m.procPid] = true
		kb, err := pssKB(m.procPid)
		if err != nil {
			t.Fatal(err)
		}
		total += kb
	}
	if os.Getenv("BERTH_PSS_DETAIL") != "" {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", mons[0].procPid))
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", mons[0].procPid))
		t.Logf("%s\n%s", data, st)
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", mons[0].procPid))
		for _, f := range tasks {
			sc, _ := os.ReadFile(f)
			t.Logf("%s: %.40s", f, sc)
		}
	}
	avg := total / n
	t.Logf("berth-monitor PSS: %d kB average over %d running containers (%d kB total in %d processes)", avg, n, total, len(seen))
	if avg > 1024 {
		t.Errorf("monitor PSS %d kB exceeds the 1 MB budget", avg)
	}
}
