package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
)

// LoadOptions is one load run: N containers of Image running `sleep`,
// made by Clients concurrent API clients, spread round-robin over
// Networks (none: the daemon's default). Burst more are then run (create
// and start, `run -d`) all at once, each by a client of its own, while
// the N run.
type LoadOptions struct {
	N, Clients int
	Image      string
	Networks   []string
	Burst      int
	// StartBudget bounds the create and start phases (0: none): what is
	// not created and started by then is left out and counted in
	// Skipped, so a daemon too slow for N still gives figures for what
	// it did run.
	StartBudget time.Duration
}

// LoadResult is what a load run measured. Phase times are wall-clock for
// all N containers; memory is in kB.
type LoadResult struct {
	N, Clients                  int
	Create, Start, Stop, Remove time.Duration
	PsMedian, PsMax             time.Duration // GET /containers/json?all=1 with N running
	RSSBefore, RSSRunning       int           // daemon RSS
	RSSAfter                    int           // after all are removed
	MonitorPSS                  int           // mean PSS of one monitor while N run
	// Helpers are the per-container processes besides the daemon:
	// berth-monitor supervisors (up to 16 containers each) or dockerd's
	// containerd shims (one each); HelperPSS is their summed PSS.
	Helpers, HelperPSS int
	// CompanionRSS is dockerd's containerd (0 for berthd), idle and
	// with all running.
	CompanionRSSBefore, CompanionRSSRunning int
	BurstN                                  int
	Skipped                                 int           // not created or started within the StartBudget
	Burst                                   time.Duration // wall time of the burst of run -d
	BurstErrors                             []string
	Events                                  int      // container events received
	MissingEvents, ExtraEvents              []string // "id action" not seen / seen twice
	Errors                                  []string
	StartedConcurrently                     int // containers running at once (should be N)
	psTimes                                 []time.Duration
	eventsMu                                sync.Mutex
	eventSeen                               map[string]int
	notStarted                              map[string]bool // created, never started (StartBudget)
	api                                     *client.Client
	monitorBin, execRoot                    string
	target                                  string
}

// RunLoad drives d through one load run: create and start N containers
// with concurrent clients, measure ps and memory while all run, then stop
// and remove them all, watching the event stream throughout. Failed
// requests are collected in Errors, not returned: the caller judges.
func RunLoad(ctx context.Context, d *Daemon, opts LoadOptions) (*LoadResult, error) {
	if opts.Clients <= 0 {
		opts.Clients = 8
	}
	api, err := d.Client(ctx)
	if err != nil {
		return nil, err
	}
	r := &LoadResult{N: opts.N, Clients: opts.Clients, eventSeen: map[string]int{}, notStarted: map[string]bool{},
		api: api, monitorBin: filepath.Join(BinDir(d.RepoDir), "berth-monitor"), execRoot: d.Exec, target: d.Target}
	pid := d.Pid()
	r.RSSBefore = rssKB(pid)
	r.CompanionRSSBefore = r.companionRSS()
	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan struct{})
	evReady := make(chan struct{})
	go func() {
		defer close(evDone)
		r.watchEvents(evCtx, evReady)
	}()
	select {
	case <-evReady:
	case <-time.After(10 * time.Second):
		stopEvents()
		return nil, fmt.Errorf("events stream did not open")
	}

	var deadline time.Time
	if opts.StartBudget > 0 {
		deadline = time.Now().Add(opts.StartBudget)
	}
	late := func() bool { return !deadline.IsZero() && time.Now().After(deadline) }
	var skipped atomic.Int64
	ids := make([]string, opts.N)
	create := func(i int) (string, error) {
		req := &container.CreateRequest{Config: &container.Config{Image: opts.Image, Cmd: []string{"sleep", "100000"}},
			HostConfig: &container.HostConfig{}}
		if len(opts.Networks) > 0 {
			req.HostConfig.NetworkMode = container.NetworkMode(opts.Networks[i%len(opts.Networks)])
		}
		resp, err := r.api.ContainerCreate(ctx, "", req)
		if err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		return resp.ID, nil
	}
	r.Create = r.parallel(opts.N, opts.Clients, func(i int) (err error) {
		if late() {
			skipped.Add(1)
			return nil
		}
		ids[i], err = create(i)
		return err
	}, &r.Errors)
	r.Start = r.parallel(opts.N, opts.Clients, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		if late() {
			// Left created, not started; removed with the rest.
			skipped.Add(1)
			r.eventsMu.Lock()
			r.notStarted[ids[i]] = true
			r.eventsMu.Unlock()
			return nil
		}
		return r.api.ContainerStart(ctx, ids[i])
	}, &r.Errors)
	r.Skipped = int(skipped.Load())
	var running []container.Summary
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		var err error
		running, err = r.api.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err != nil {
			r.Errors = append(r.Errors, "ps: "+err.Error())
			break
		}
		r.psSample(time.Since(t0))
	}
	r.finishPs()
	for _, c := range running {
		if c.State == container.StateRunning {
			r.StartedConcurrently++
		}
	}
	r.RSSRunning = rssKB(pid)
	r.CompanionRSSRunning = r.companionRSS()
	r.MonitorPSS = r.meanMonitorPSS()
	r.Helpers, r.HelperPSS = r.helperPSS()
	if opts.Burst > 0 {
		// docker run -d, Burst at once on top of the N: create, then
		// start, each by its own client.
		r.BurstN = opts.Burst
		burst := make([]string, opts.Burst)
		r.Burst = r.parallel(opts.Burst, opts.Burst, func(i int) (err error) {
			if burst[i], err = create(i); err != nil {
				return err
			}
			return r.api.ContainerStart(ctx, burst[i])
		}, &r.BurstErrors)
		ids = append(ids, burst...)
		opts.N += opts.Burst
	}
	r.Stop = r.parallel(opts.N, opts.Clients, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		t := 0
		return r.api.ContainerStop(ctx, ids[i], client.StopOptions{Timeout: &t})
	}, &r.Errors)
	r.Remove = r.parallel(opts.N, opts.Clients, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		return r.api.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}, &r.Errors)
	// Events are delivered after the request returns: give the stream a
	// moment to drain, then compare.
	want := []string{"create", "start", "die", "destroy"}
	drain := time.Now().Add(15 * time.Second)
	for time.Now().Before(drain) && len(r.missing(ids, want)) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	stopEvents()
	<-evDone
	r.MissingEvents = r.missing(ids, want)
	r.eventsMu.Lock()
	for k, n := range r.eventSeen {
		// A stop sends SIGTERM then SIGKILL: two kill events, as in
		// dockerd. The lifecycle events come once each.
		if _, action, _ := strings.Cut(k, " "); n > 1 && action != "kill" {
			r.ExtraEvents = append(r.ExtraEvents, fmt.Sprintf("%s x%d", k, n))
		}
	}
	r.eventsMu.Unlock()
	sort.Strings(r.ExtraEvents)
	r.RSSAfter = rssKB(pid)
	return r, nil
}

func (r *LoadResult) psSample(d time.Duration) {
	r.psTimes = append(r.psTimes, d)
	if d > r.PsMax {
		r.PsMax = d
	}
}

func (r *LoadResult) finishPs() {
	ds := append([]time.Duration(nil), r.psTimes...)
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	r.PsMedian = ds[len(ds)/2]
}

// parallel runs f(0..n-1) on workers, notes failures in errs and
// returns the wall time.
func (r *LoadResult) parallel(n, workers int, f func(i int) error, errs *[]string) time.Duration {
	t0 := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					*errs = append(*errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return time.Since(t0)
}

func (r *LoadResult) watchEvents(ctx context.Context, ready chan<- struct{}) {
	body, err := r.api.Events(ctx, client.EventsOptions{Filters: client.Filters{"type": {"container"}}})
	close(ready)
	if err != nil {
		return
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Action string
			Actor  struct{ ID string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		r.eventsMu.Lock()
		r.Events++
		r.eventSeen[ev.Actor.ID+" "+ev.Action]++
		r.eventsMu.Unlock()
	}
}

func (r *LoadResult) missing(ids []string, actions []string) []string {
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	var out []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		for _, a := range actions {
			if r.notStarted[id] && (a == "start" || a == "die") {
				continue
			}
			if r.eventSeen[id+" "+a] == 0 {
				out = append(out, id[:12]+" "+a)
			}
		}
	}
	return out
}

// meanMonitorPSS is the mean PSS of this daemon's monitors (0 if none).
func (r *LoadResult) meanMonitorPSS() int {
	pids := ProcsWithArg(r.monitorBin, r.execRoot)
	if len(pids) == 0 {
		return 0
	}
	total := 0
	for _, p := range pids {
		if kb, err := PSS(p); err == nil {
			total += kb
		}
	}
	return total / len(pids)
}

// helperPSS counts the per-container helper processes of this daemon
// (berth-monitor supervisors, or containerd's shims under dockerd's exec
// root) and sums their PSS.
func (r *LoadResult) helperPSS() (n, total int) {
	exe := r.monitorBin
	if r.target == TargetDockerd {
		if exe, _ = exec.LookPath("containerd-shim-runc-v2"); exe == "" {
			return 0, 0
		}
	}
	for _, p := range ProcsWithArg(exe, r.execRoot) {
		if kb, err := PSS(p); err == nil {
			n++
			total += kb
		}
	}
	return n, total
}

// companionRSS is the RSS of dockerd's own containerd (0 for berthd).
func (r *LoadResult) companionRSS() int {
	if r.target != TargetDockerd {
		return 0
	}
	total := 0
	for _, p := range ProcsWithArg("containerd", r.execRoot) {
		total += rssKB(p)
	}
	return total
}

// PerContainerKB is what each running container cost: the growth of the
// daemon (and dockerd's containerd) plus the helpers' PSS, over the
// containers running.
func (r *LoadResult) PerContainerKB() float64 {
	return float64(r.RSSRunning-r.RSSBefore+r.CompanionRSSRunning-r.CompanionRSSBefore+r.HelperPSS) / float64(max(r.StartedConcurrently, 1))
}

// rssKB reads VmRSS of pid (0 when unreadable).
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

// String is a one-paragraph summary for logs and the bench.
func (r *LoadResult) String() string {
	return fmt.Sprintf("%d containers, %d clients: create %v, start %v (%d running at once), ps median %v max %v, stop %v, remove %v; "+
		"daemon RSS %d kB idle, %d kB with all running (%.1f kB per container), %d kB after; monitor PSS %d kB each; "+
		"%d helpers %d kB PSS, containerd %d → %d kB, %.0f kB per container; %d run -d at once in %v, %d failed; "+
		"%d events, %d missing, %d duplicated; %d errors; %d skipped (start budget)",
		r.N, r.Clients, r.Create.Round(time.Millisecond), r.Start.Round(time.Millisecond), r.StartedConcurrently,
		r.PsMedian.Round(time.Millisecond), r.PsMax.Round(time.Millisecond), r.Stop.Round(time.Millisecond), r.Remove.Round(time.Millisecond),
		r.RSSBefore, r.RSSRunning, float64(r.RSSRunning-r.RSSBefore)/float64(max(r.StartedConcurrently, 1)), r.RSSAfter, r.MonitorPSS,
		r.Helpers, r.HelperPSS, r.CompanionRSSBefore, r.CompanionRSSRunning, r.PerContainerKB(),
		r.BurstN, r.Burst.Round(time.Millisecond), len(r.BurstErrors),
		r.Events, len(r.MissingEvents), len(r.ExtraEvents), len(r.Errors), r.Skipped)
}
