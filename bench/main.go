// Command bench measures berthd against dockerd side by side (when both are
// available) through the real docker CLI and prints a table of medians.
//
//	go run ./bench            # both targets
//	go run ./bench -target berthd
//	go run ./bench -sections kube   # the Kubernetes node: berthd's CRI vs containerd
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// result holds one target's numbers; zero means not measured.
type result struct {
	runRm, runD, exec time.Duration
	runRmBridge       time.Duration // berthd only: run --rm on its default bridge
	memPerCtr         float64       // kB PSS per running container
	base              int           // kB PSS of the engine with no containers
	buildCold         time.Duration // 3 RUN + 50 MB COPY, --no-cache
	buildCached       time.Duration // the same, fully cached
	buildChanged      time.Duration // after changing the file copied last
	reg               registryTimes // pull/push/save/load of ~200 MB, 4 layers
	compose           composeTimes  // up -d / down of a 10-service project
	idleRSS           int           // kB RSS of the daemon alone after start (perf.go)
	ps                psTimes       // ps -a over psContainers containers (perf.go)
	loadStart         float64       // 1-minute load average when the target's measuring began
	loadEnd           float64       // ... and ended
}

func main() {
	targets := flag.String("target", "berthd,berthd-runc,dockerd", "comma-separated targets to measure (berthd-runc: berthd with --default-runtime runc)")
	runs := flag.Int("n", 20, "iterations for run --rm and exec")
	many := flag.Int("many", 50, "containers for the run -d measurement")
	sections := flag.String("sections", "core,build,registry,compose,swarm,kube,ps", "comma-separated parts to measure (ps: `ps -a` over 1000 containers; kube: a `berth cluster up` cluster on berthd's CRI beside one on a private containerd)")
	kubeRuntimes := flag.String("kube-runtimes", "berthd,containerd", "comma-separated cluster runtimes of the kube section")
	kubeApply := flag.Int("kube-apply-n", 5, "rounds of apply-to-Running in the kube section")
	kubeCrictl := flag.Int("kube-crictl-n", 10, "rounds of crictl runp/create/start in the kube section")
	kubeTrace := flag.Bool("kube-trace", false, "kube section: put a timing proxy between the kubelet and the runtime and print each apply round's CRI calls (for profiling; the proxy adds a hop)")
	flag.Parse()
	want := map[string]bool{}
	for _, s := range strings.Split(*sections, ",") {
		want[s] = true
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root")
		os.Exit(1)
	}
	ctx := context.Background()
	results := map[string]*result{}
	var order []string
	perDaemon := want["core"] || want["build"] || want["registry"] || want["compose"] || want["ps"]
	for _, t := range strings.Split(*targets, ",") {
		if !perDaemon {
			break
		}
		if !available(t) {
			fmt.Fprintf(os.Stderr, "bench: %s not available, skipped\n", t)
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: measuring %s...\n", t)
		r, err := measure(ctx, t, *runs, *many, want)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", t, err)
			continue
		}
		results[t] = r
		order = append(order, t)
	}
	if perDaemon {
		printTable(order, results)
	}
	if want["swarm"] {
		benchSwarm(ctx, *targets)
	}
	if want["kube"] {
		benchKube(ctx, strings.Split(*kubeRuntimes, ","), *kubeApply, *kubeCrictl, *kubeTrace)
	}
}

func available(target string) bool {
	if target == targetBerthdRunc {
		_, err := exec.LookPath("runc")
		return err == nil && available(testutil.TargetBerthd)
	}
	switch target {
	case testutil.TargetDockerd:
		_, err := exec.LookPath("dockerd")
		return err == nil
	case testutil.TargetBerthd:
		repo, err := testutil.RepoRoot()
		if err != nil {
			return false
		}
		_, err = os.Stat(filepath.Join(testutil.BinDir(repo), "berthd"))
		return err == nil
	}
	return false
}

// session is one daemon plus the docker CLI pointed at it.
type session struct {
	d   *testutil.Daemon
	cli testutil.Driver
	net []string
}

func (s *session) run(ctx context.Context, args ...string) (string, error) {
	r := s.cli.Run(ctx, nil, args...)
	if r.Code != 0 {
		return "", fmt.Errorf("%s", r)
	}
	return r.Out(), nil
}

// targetBerthdRunc is berthd running its containers with runc (the
// default is crun where it is installed).
const targetBerthdRunc = "berthd-runc"

func measure(ctx context.Context, target string, runs, many int, want map[string]bool) (*result, error) {
	if target == targetBerthdRunc {
		os.Setenv("BERTH_TEST_RUNTIME", "runc")
		defer os.Unsetenv("BERTH_TEST_RUNTIME")
		target = testutil.TargetBerthd
	}
	d, err := testutil.StartDaemon(ctx, target)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	// Both engines run without networking so the figures compare the same
	// work: the harness's dockerd runs on a private bridge without iptables.
	s := &session{d: d, cli: testutil.DockerDriver(d, filepath.Join(d.Dir, "cfg")), net: []string{"--network", "none"}}
	tarData, err := testutil.BusyboxTarBytes()
	if err != nil {
		return nil, err
	}
	if r := s.cli.Run(ctx, bytes.NewReader(tarData), "import", "-", "busybox:latest"); r.Code != 0 {
		return nil, fmt.Errorf("import: %s", r)
	}
	defer removeAll(ctx, s)
	res := &result{loadStart: loadAvg()}
	defer func() { res.loadEnd = loadAvg() }()
	if res.idleRSS, err = idleRSS(d.Pid()); err != nil {
		return nil, fmt.Errorf("idle RSS: %w", err)
	}
	if want["core"] {
		if err := measureCore(ctx, s, target, res, runs, many); err != nil {
			return nil, err
		}
	}
	if want["build"] {
		if res.buildCold, res.buildCached, res.buildChanged, err = measureBuild(ctx, s, 5); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	if want["registry"] {
		if res.reg, err = measureRegistry(ctx, s, 3); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	if want["ps"] {
		if res.ps, err = measurePs(ctx, s, 5); err != nil {
			return nil, fmt.Errorf("ps: %w", err)
		}
	}
	if want["compose"] {
		if res.compose, err = measureCompose(ctx, s, 5); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
	}
	return res, nil
}

// measureCore times run --rm, run -d and exec, and the engine's memory per
// running container.
func measureCore(ctx context.Context, s *session, target string, res *result, runs, many int) (err error) {
	runArgs := append(append([]string{"run", "--rm"}, s.net...), "busybox", "true")
	if res.runRm, err = median(runs, func() error { _, err := s.run(ctx, runArgs...); return err }); err != nil {
		return err
	}
	if target == testutil.TargetBerthd {
		bridged := []string{"run", "--rm", "busybox", "true"}
		if res.runRmBridge, err = median(runs, func() error { _, err := s.run(ctx, bridged...); return err }); err != nil {
			return err
		}
	}
	runD := append(append([]string{"run", "-d"}, s.net...), "busybox", "sleep", "600")
	if res.runD, err = median(many, func() error { _, err := s.run(ctx, runD...); return err }); err != nil {
		return err
	}
	removeAll(ctx, s)
	id, err := s.run(ctx, runD...)
	if err != nil {
		return err
	}
	if res.exec, err = median(runs, func() error { _, err := s.run(ctx, "exec", id, "true"); return err }); err != nil {
		return err
	}
	removeAll(ctx, s)
	if err := memory(ctx, s, res, runD); err != nil {
		return err
	}
	removeAll(ctx, s)
	return nil
}

// memContainers is how many containers run for the memory figure.
const memContainers = 50

// memory = (PSS of engine + per-container processes with memContainers
// running − PSS with 0) / memContainers.
func memory(ctx context.Context, s *session, res *result, runD []string) error {
	time.Sleep(2 * time.Second) // let the daemon settle after the removals
	base, err := enginePSS(s)
	if err != nil {
		return err
	}
	for i := 0; i < memContainers; i++ {
		if _, err := s.run(ctx, runD...); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second)
	loaded, err := enginePSS(s)
	if err != nil {
		return err
	}
	res.base, res.memPerCtr = base, float64(loaded-base)/memContainers
	return nil
}

// enginePSS sums PSS (kB) over the daemon and the processes it runs per
// container: berth-monitor for berthd; containerd and shims for dockerd.
func enginePSS(s *session) (int, error) {
	pids := []int{s.d.Pid()}
	switch s.d.Target {
	case testutil.TargetBerthd:
		pids = append(pids, testutil.ProcsWithArg(filepath.Join(testutil.BinDir(s.d.RepoDir), "berth-monitor"), "")...)
		pids = append(pids, testutil.ProcsWithArg("", s.d.Exec+"/")...)
	case testutil.TargetDockerd:
		pids = append(pids, testutil.ProcsWithArg("", s.d.Exec+"/containerd/")...)
	}
	seen := map[int]bool{}
	total := 0
	for _, pid := range pids {
		if seen[pid] || isContainerProcess(pid) {
			continue
		}
		seen[pid] = true
		kb, err := testutil.PSS(pid)
		if err != nil {
			continue // exited in between
		}
		total += kb
	}
	if total == 0 {
		return 0, errors.New("no engine processes found")
	}
	return total, nil
}

// isContainerProcess excludes the containers' own processes (sleep 600),
// which are workload, not engine overhead.
func isContainerProcess(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.HasPrefix(string(b), "sleep\x00")
}

func removeAll(ctx context.Context, s *session) {
	ids := strings.Fields(s.cli.Run(ctx, nil, "ps", "-aq").Stdout)
	if len(ids) > 0 {
		s.cli.Run(ctx, nil, append([]string{"rm", "-f"}, ids...)...)
	}
}

func median(n int, f func() error) (time.Duration, error) {
	if err := f(); err != nil { // warm-up, not counted
		return 0, err
	}
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	return medianOf(ds), nil
}

// medianOf sorts ds and returns its median.
func medianOf(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}
