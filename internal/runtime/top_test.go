package runtime

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestTopFiltersContainerPids(t *testing.T) {
	c := startContainer(t, "sh", "-c", "sleep 1000 & sleep 1000")
	ctx := ctxT(t)
	var pids []int
	var err error
	for i := 0; i < 100 && len(pids) < 2; i++ {
		if pids, err = c.rt.Ps(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := Top(ctx, pids, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Titles, []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}) {
		t.Fatalf("titles %v", resp.Titles)
	}
	if len(resp.Processes) != len(pids) {
		t.Fatalf("want %d rows, got %v", len(pids), resp.Processes)
	}
	for _, row := range resp.Processes {
		p, _ := strconv.Atoi(row[1])
		if !slices.Contains(pids, p) || len(row) != 8 {
			t.Fatalf("row %v not a container process (%v)", row, pids)
		}
	}
	// The background sleep may still be between fork and exec (its comm
	// is then the shell's or the runtime's): give it a moment.
	for i := 0; ; i++ {
		resp, err = Top(ctx, pids, "-o pid,comm")
		if err != nil {
			t.Fatal(err)
		}
		ok := slices.Equal(resp.Titles, []string{"PID", "COMMAND"}) && len(resp.Processes) == 2 && resp.Processes[1][1] == "sleep"
		if ok {
			break
		}
		if i == 50 {
			t.Fatalf("custom args: %+v", resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = Top(ctx, pids, "-o comm")
	if err == nil || err.Error() != "Couldn't find PID field in ps output" || !errdefs.IsInvalid(err) {
		t.Fatalf("no PID column: %v", err)
	}
}

func TestParsePs(t *testing.T) {
	out := []byte("UID PID PPID C STIME TTY TIME CMD\n" +
		"root 10 1 0 23:38 ? 00:00:00 sh -c while true; do echo tick; done\n" +
		"root 11 10 0 23:38 ? 00:00:00 sleep 1\n" +
		"root 99 1 0 23:38 ? 00:00:00 other\n")
	resp, err := parsePs(out, []int{10, 11})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Processes) != 2 || resp.Processes[0][7] != "sh -c while true; do echo tick; done" || resp.Processes[1][1] != "11" {
		t.Fatalf("%+v", resp.Processes)
	}
}
