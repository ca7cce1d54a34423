// Command load is the load part of `make bench`: N containers (default
// 1000) running busybox sleep, created and started by concurrent API
// clients, all running at once, then stopped and removed, on berthd and,
// where it is installed, on a private dockerd side by side. It prints the
// phase times, ps latency with everything running, the daemon's memory
// (idle, loaded, after) and per-container monitor memory, the event count
// and any lost or duplicated event, and any failed request; then, with all
// running, -burst more containers run -d at once (one client each).
//
//	go run ./bench/load -n 1000 -target berthd,dockerd
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/bench/benchtable"

	"github.com/berth-project/berth/tests/testutil"
)

func main() {
	n := flag.Int("n", 1000, "containers running at once")
	clients := flag.Int("clients", 16, "concurrent API clients")
	budget := flag.Duration("start-budget", 0, "stop creating and starting after this long (0: none); the rest is counted as skipped")
	burst := flag.Int("burst", 100, "containers run -d all at once (one client each) while the n run")
	targets := flag.String("target", "berthd,dockerd", "comma-separated targets")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/load: needs root")
		os.Exit(1)
	}
	ctx := context.Background()
	var order []string
	res := map[string]*testutil.LoadResult{}
	for _, t := range strings.Split(*targets, ",") {
		if t == testutil.TargetDockerd {
			if _, err := exec.LookPath("dockerd"); err != nil {
				fmt.Fprintln(os.Stderr, "bench/load: dockerd not installed, skipped")
				continue
			}
		}
		fmt.Fprintf(os.Stderr, "bench/load: %d containers on %s...\n", *n, t)
		r, err := measure(ctx, t, *n, *clients, *burst, *budget)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench/load: %s: %v\n", t, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "bench/load: %s: %s\n", t, r)
		for _, e := range append(firstN(r.Errors, 5), firstN(r.BurstErrors, 5)...) {
			fmt.Fprintf(os.Stderr, "bench/load: %s: failed: %s\n", t, e)
		}
		order = append(order, t)
		res[t] = r
	}
	printTable(order, res)
}

func measure(ctx context.Context, target string, n, clients, burst int, budget time.Duration) (*testutil.LoadResult, error) {
	d, err := testutil.StartDaemon(ctx, target)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	cli := testutil.DockerDriver(d, filepath.Join(d.Dir, "cfg"))
	tarData, err := testutil.BusyboxTarBytes()
	if err != nil {
		return nil, err
	}
	if r := cli.Run(ctx, bytes.NewReader(tarData), "import", "-", "busybox:latest"); r.Code != 0 {
		return nil, fmt.Errorf("import: %s", r)
	}
	time.Sleep(2 * time.Second) // let the daemon settle before the idle reading
	// Both engines without networking (the harness's dockerd has no
	// bridge), so the figures compare the same work.
	return testutil.RunLoad(ctx, d, testutil.LoadOptions{N: n, Clients: clients, Image: "busybox", Networks: []string{"none"}, Burst: burst, StartBudget: budget})
}

func firstN(s []string, n int) []string { return s[:min(len(s), n)] }

func printTable(order []string, res map[string]*testutil.LoadResult) {
	if len(order) == 0 {
		fmt.Println("load: no target measured")
		return
	}
	tab := benchtable.New("load", order, res, benchtable.Ratio{Num: testutil.TargetBerthd, Den: testutil.TargetDockerd})
	defer tab.Flush()
	row := tab.Row
	dur := func(v float64) string { return time.Duration(v).Round(time.Millisecond).String() }
	kb := func(v float64) string { return fmt.Sprintf("%.0f MB", v/1024) }
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	row("containers running at once", func(r *testutil.LoadResult) float64 { return float64(r.StartedConcurrently) }, num)
	row("create all", func(r *testutil.LoadResult) float64 { return float64(r.Create) }, dur)
	row("start all", func(r *testutil.LoadResult) float64 { return float64(r.Start) }, dur)
	row("ps -a, all running (median)", func(r *testutil.LoadResult) float64 { return float64(r.PsMedian) }, dur)
	row("stop all", func(r *testutil.LoadResult) float64 { return float64(r.Stop) }, dur)
	row("remove all", func(r *testutil.LoadResult) float64 { return float64(r.Remove) }, dur)
	row("daemon RSS idle", func(r *testutil.LoadResult) float64 { return float64(r.RSSBefore) }, kb)
	row("daemon RSS, all running", func(r *testutil.LoadResult) float64 { return float64(r.RSSRunning) }, kb)
	row("daemon RSS after removal", func(r *testutil.LoadResult) float64 { return float64(r.RSSAfter) }, kb)
	row("daemon kB per container", func(r *testutil.LoadResult) float64 {
		return float64(r.RSSRunning-r.RSSBefore) / float64(max(r.StartedConcurrently, 1))
	}, func(v float64) string { return fmt.Sprintf("%.0f kB", v) })
	row("containerd RSS, all running (dockerd)", func(r *testutil.LoadResult) float64 { return float64(r.CompanionRSSRunning) }, kb)
	row("helper processes (monitors / shims)", func(r *testutil.LoadResult) float64 { return float64(r.Helpers) }, num)
	row("helpers' PSS, all running", func(r *testutil.LoadResult) float64 { return float64(r.HelperPSS) }, kb)
	row("memory per container (daemons' growth + helpers)", func(r *testutil.LoadResult) float64 { return r.PerContainerKB() },
		func(v float64) string { return fmt.Sprintf("%.0f kB", v) })
	row("run -d, all at once on top", func(r *testutil.LoadResult) float64 { return float64(r.BurstN) }, num)
	row("  wall time", func(r *testutil.LoadResult) float64 { return float64(r.Burst) }, dur)
	row("  failed", func(r *testutil.LoadResult) float64 { return float64(len(r.BurstErrors)) }, num)
	row("events received", func(r *testutil.LoadResult) float64 { return float64(r.Events) }, num)
	row("events missing", func(r *testutil.LoadResult) float64 { return float64(len(r.MissingEvents)) }, num)
	row("events duplicated", func(r *testutil.LoadResult) float64 { return float64(len(r.ExtraEvents)) }, num)
	row("skipped (start budget)", func(r *testutil.LoadResult) float64 { return float64(r.Skipped) }, num)
	row("failed requests", func(r *testutil.LoadResult) float64 { return float64(len(r.Errors)) }, num)
}
