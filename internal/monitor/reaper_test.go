package monitor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// childStates maps each child of pid to its "comm state" from /proc.
func childStates(pid int) map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(data)) {
			stat, err := os.ReadFile("/proc/" + c + "/stat")
			if err != nil {
				continue
			}
			s := string(stat)
			open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || close < 0 || close+3 > len(s) {
				continue
			}
			out[c] = s[open+1:close] + " " + s[close+2:close+3]
		}
	}
	return out
}

// TestOrphansReaped: in the host's pid namespace a container's orphans
// are re-parented to the monitor (child subreaper); it must reap them
// while the container runs, not leave zombies.
func TestOrphansReaped(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", "(sleep 0.3 &); sleep 3"}, opts{hostPID: true})
	ctx := testCtx(t)
	m := e.create(ctx)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sawOrphan := false
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for pid, st := range childStates(m.procPid) {
			if pid != fmt.Sprint(m.Pid()) && strings.HasPrefix(st, "sleep") {
				sawOrphan = true
			}
			if strings.HasSuffix(st, " Z") {
				// A zombie may exist for the instant between its exit
				// and the SIGCHLD handler; it must not last.
				time.Sleep(200 * time.Millisecond)
				if now := childStates(m.procPid)[pid]; strings.HasSuffix(now, " Z") {
					t.Fatalf("zombie child %s (%s) of the monitor", pid, now)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawOrphan {
		t.Fatal("the orphaned sleep never became the monitor's child; test proves nothing")
	}
	st, err := m.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Errorf("Wait = %+v, %v", st, err)
	}
}
