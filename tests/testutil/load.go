package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
)

// LoadOptions is one load run: N containers of Image running `sleep`,
// made by Clients concurrent API clients, spread round-robin over
// Networks (none: the daemon's default).
type LoadOptions struct {
	N, Clients int
	Image      string
	Networks   []string
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
	Events                      int           // container events received
	MissingEvents, ExtraEvents  []string      // "id action" not seen / seen twice
	Errors                      []string
	StartedConcurrently         int // containers running at once (should be N)
	psTimes                     []time.Duration
	eventsMu                    sync.Mutex
	eventSeen                   map[string]int
	api                         *client.Client
	monitorBin, execRoot        string
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
	r := &LoadResult{N: opts.N, Clients: opts.Clients, eventSeen: map[string]int{},
		api: api, monitorBin: filepath.Join(BinDir(d.RepoDir), "berth-monitor"), execRoot: d.Exec}
	pid := d.Pid()
	r.RSSBefore = rssKB(pid)
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

	ids := make([]string, opts.N)
	r.Create = r.parallel(opts, func(i int) error {
		req := &container.CreateRequest{Config: &container.Config{Image: opts.Image, Cmd: []string{"sleep", "100000"}},
			HostConfig: &container.HostConfig{}}
		if len(opts.Networks) > 0 {
			req.HostConfig.NetworkMode = container.NetworkMode(opts.Networks[i%len(opts.Networks)])
		}
		resp, err := r.api.ContainerCreate(ctx, "", req)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		ids[i] = resp.ID
		return nil
	})
	r.Start = r.parallel(opts, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		return r.api.ContainerStart(ctx, ids[i])
	})
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
	r.MonitorPSS = r.meanMonitorPSS()
	r.Stop = r.parallel(opts, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		t := 0
		return r.api.ContainerStop(ctx, ids[i], client.StopOptions{Timeout: &t})
	})
	r.Remove = r.parallel(opts, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		return r.api.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	})
	// Events are delivered after the request returns: give the stream a
	// moment to drain, then compare.
	want := []string{"create", "start", "die", "destroy"}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(r.missing(ids, want)) > 0 {
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

// parallel runs f(0..N-1) on Clients workers and returns the wall time.
func (r *LoadResult) parallel(opts LoadOptions, f func(i int) error) time.Duration {
	t0 := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < opts.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					r.Errors = append(r.Errors, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < opts.N; i++ {
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
		"%d events, %d missing, %d duplicated; %d errors",
		r.N, r.Clients, r.Create.Round(time.Millisecond), r.Start.Round(time.Millisecond), r.StartedConcurrently,
		r.PsMedian.Round(time.Millisecond), r.PsMax.Round(time.Millisecond), r.Stop.Round(time.Millisecond), r.Remove.Round(time.Millisecond),
		r.RSSBefore, r.RSSRunning, float64(r.RSSRunning-r.RSSBefore)/float64(max(r.N, 1)), r.RSSAfter, r.MonitorPSS,
		r.Events, len(r.MissingEvents), len(r.ExtraEvents), len(r.Errors))
}
