package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/bench/benchtable"

	"github.com/berth-project/berth/tests/testutil"
)

// The swarm section runs the tutorial's swarm chapter on berthd (swarm
// mode carried out by its single-node Kubernetes) and on the host's own
// dockerd in swarm mode, through the same docker CLI:
//   - deploy: `stack deploy` of web with 5 replicas until `service ls`
//     shows 5/5, and until all 5 replicas have answered on 127.0.0.1:80
//     through the routing mesh;
//   - update: a redeploy with 7 replicas and a new NAME until the service
//     shows 7/7 with its update completed, and until 7 replicas answer
//     with the new value;
//   - memory: PSS of everything that keeps the one-node swarm running with
//     those 7 tasks (berthd, berth-swarm, its Kubernetes and monitors;
//     dockerd, containerd and its shims), the tasks themselves excluded.
//
// The private dockerd of the other sections runs without iptables, which
// swarm's ingress needs, so this section uses the host's dockerd (the one
// on /var/run/docker.sock) when it is not already in a swarm, and leaves
// the swarm again at the end. dockerd's routing mesh needs the kernel's
// IPVS (ip_vs); where the kernel has none (as on our CI machines) dockerd
// logs "Native loadbalancing will not work" and its mesh rows stay empty.

type swarmTimes struct {
	init, deploy, update time.Duration // until the service reports all replicas running (and the update completed)
	mesh, meshUpdate     time.Duration // until every replica has answered through the routing mesh
	pss                  int           // kB
}

const hostDockerSock = "/var/run/docker.sock"

func benchSwarm(ctx context.Context, targets string) {
	res := map[string]*swarmTimes{}
	var order []string
	release, _, err := testutil.LockKube() // port 80 and one cluster per host
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: swarm: %v\n", err)
		return
	}
	defer release()
	for _, t := range strings.Split(targets, ",") {
		var r *swarmTimes
		var err error
		switch t {
		case testutil.TargetBerthd:
			if testutil.KubeBinDir() == "" {
				fmt.Fprintln(os.Stderr, "bench: swarm on berthd skipped: the Kubernetes binaries are not built (make kube)")
				continue
			}
			fmt.Fprintln(os.Stderr, "bench: measuring swarm on berthd...")
			r, err = swarmOnBerthd(ctx)
		case testutil.TargetDockerd:
			if _, serr := os.Stat(hostDockerSock); serr != nil {
				fmt.Fprintln(os.Stderr, "bench: swarm on dockerd skipped: no dockerd on "+hostDockerSock)
				continue
			}
			fmt.Fprintln(os.Stderr, "bench: measuring swarm on the host's dockerd...")
			r, err = swarmOnHostDockerd(ctx)
		default:
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: swarm on %s: %v\n", t, err)
			continue
		}
		res[t] = r
		order = append(order, t)
	}
	printSwarmTable(order, res)
}

func swarmOnBerthd(ctx context.Context) (*swarmTimes, error) {
	dir, err := os.MkdirTemp("", "berth-bench-swarm-")
	if err != nil {
		return nil, err
	}
	defer testutil.RemoveDir(dir)
	d, err := testutil.StartBerthdIn(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if d.Shutdown() != nil {
			d.Kill()
		}
	}()
	cli := testutil.DockerDriver(d, filepath.Join(dir, "cfg"))
	return runSwarmChapter(ctx, cli, func() (int, error) {
		pids := []int{d.Pid()}
		pids = append(pids, testutil.ProcsWithArg("", d.Root)...) // berth-swarm, Kubernetes components
		pids = append(pids, testutil.ProcsWithArg("", d.Exec+"/")...)
		pids = append(pids, testutil.ProcsWithArg(filepath.Join(testutil.BinDir(d.RepoDir), "berth-monitor"), "")...)
		return hostPSS(pids)
	})
}

func swarmOnHostDockerd(ctx context.Context) (*swarmTimes, error) {
	cfg, err := os.MkdirTemp("", "berth-bench-dcfg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cfg)
	cli := testutil.Driver{Name: "docker", Bin: testutil.DockerCLI, Env: append(os.Environ(), "DOCKER_HOST=unix://"+hostDockerSock,
		"DOCKER_CONFIG="+cfg, "DOCKER_CLI_HINTS=false", "BERTH_HOST=", "DOCKER_CONTEXT=")}
	if st := cli.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}").Out(); st != "inactive" {
		return nil, fmt.Errorf("the host's dockerd swarm state is %q, not inactive: left alone", st)
	}
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return nil, err
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return runSwarmChapter(ctx, cli, func() (int, error) {
		pids := []int{pid}
		pids = append(pids, testutil.ProcsWithArg("", "/var/run/docker/containerd/")...) // containerd and shims
		return hostPSS(pids)
	})
}

// runSwarmChapter: import busybox, build friendlyhello, init, deploy,
// update, measure, then stack rm and leave, whatever failed.
func runSwarmChapter(ctx context.Context, cli testutil.Driver, pss func() (int, error)) (*swarmTimes, error) {
	tarData, err := testutil.BusyboxTarBytes()
	if err != nil {
		return nil, err
	}
	if r := cli.Run(ctx, strings.NewReader(string(tarData)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		return nil, fmt.Errorf("import: %s", r)
	}
	work, err := os.MkdirTemp("", "berth-bench-app-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	os.WriteFile(filepath.Join(work, "Dockerfile"), []byte(testutil.TutorialDockerfile), 0o644)
	if r := cli.Run(ctx, nil, "build", "-q", "-t", "friendlyhello", work); r.Code != 0 {
		return nil, fmt.Errorf("build: %s", r)
	}
	compose := filepath.Join(work, "docker-compose.yml")
	res := &swarmTimes{}
	t0 := time.Now()
	if r := cli.Run(ctx, nil, "swarm", "init"); r.Code != 0 {
		return nil, fmt.Errorf("swarm init: %s", r)
	}
	res.init = time.Since(t0)
	defer func() {
		cli.Run(context.Background(), nil, "stack", "rm", "getstartedlab")
		time.Sleep(2 * time.Second)
		cli.Run(context.Background(), nil, "swarm", "leave", "--force")
		cli.Run(context.Background(), nil, "rmi", "-f", "friendlyhello")
	}()
	deploy := func(name string, replicas int, update bool) (converged, answered time.Duration, err error) {
		os.WriteFile(compose, []byte(testutil.TutorialCompose(name, replicas)), 0o644)
		t0 := time.Now()
		if r := cli.Run(ctx, nil, "stack", "deploy", "-c", compose, "getstartedlab"); r.Code != 0 {
			return 0, 0, fmt.Errorf("stack deploy: %s", r)
		}
		if err := waitConverged(ctx, cli, replicas, update, 5*time.Minute); err != nil {
			return 0, 0, err
		}
		converged = time.Since(t0)
		if !meshWorks(cli) {
			return converged, 0, nil
		}
		if err := waitReplicasAnswer(ctx, "Hello "+name+" from ", replicas, 2*time.Minute); err != nil {
			return 0, 0, err
		}
		return converged, time.Since(t0), nil
	}
	if res.deploy, res.mesh, err = deploy("World", 5, false); err != nil {
		return nil, err
	}
	if res.update, res.meshUpdate, err = deploy("Bench", 7, true); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	if res.pss, err = pss(); err != nil {
		return nil, err
	}
	return res, nil
}

// waitConverged polls until `service ls` shows n/n and, after an update,
// the service's UpdateStatus is completed.
func waitConverged(ctx context.Context, cli testutil.Driver, n int, update bool, limit time.Duration) error {
	want := fmt.Sprintf("%d/%d", n, n)
	deadline := time.Now().Add(limit)
	var last string
	for {
		last = cli.Run(ctx, nil, "service", "ls", "--filter", "name=getstartedlab_web", "--format", "{{.Replicas}}").Out()
		done := strings.HasPrefix(last, want)
		if done && update {
			st := cli.Run(ctx, nil, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", "getstartedlab_web").Out()
			done = st == "completed"
			last += " update " + st
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service not converged to %s in %s (last: %s)", want, limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// meshWorks: Berth's ingress is its own forwarder; dockerd's needs IPVS.
func meshWorks(cli testutil.Driver) bool {
	for _, e := range cli.Env {
		if e == "DOCKER_HOST=unix://"+hostDockerSock {
			_, err := os.Stat("/proc/net/ip_vs")
			return err == nil
		}
	}
	return true
}

// waitReplicasAnswer asks 127.0.0.1:80 (a new connection each time, so
// the mesh balances) until n different replicas have answered with
// prefix.
func waitReplicasAnswer(ctx context.Context, prefix string, n int, limit time.Duration) error {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]bool{}
	deadline := time.Now().Add(limit)
	var last string
	for len(seen) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d replicas answered %q in %s (last: %s)", len(seen), n, prefix, limit, last)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:80/cgi-bin/index", nil)
		resp, err := c.Do(req)
		if err != nil {
			last = err.Error()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = strings.TrimSpace(string(b))
		if host, ok := strings.CutPrefix(last, prefix); ok {
			seen[host] = true
		}
	}
	return nil
}

// hostPSS sums PSS over pids, once each, leaving out processes in another
// PID namespace (the tasks: workload, not engine).
func hostPSS(pids []int) (int, error) {
	self, _ := os.Readlink("/proc/self/ns/pid")
	seen := map[int]bool{}
	total := 0
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != self {
			continue
		}
		if kb, err := testutil.PSS(pid); err == nil {
			total += kb
		}
	}
	if total == 0 {
		return 0, errors.New("no engine processes found")
	}
	return total, nil
}

func printSwarmTable(order []string, res map[string]*swarmTimes) {
	if len(order) == 0 {
		return
	}
	fmt.Println()
	tab := benchtable.New("swarm (tutorial chapter)", order, res,
		benchtable.Ratio{Num: testutil.TargetBerthd, Den: testutil.TargetDockerd})
	defer tab.Flush()
	row := tab.Row
	secs := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f s", v)
	}
	mb := benchtable.MB(0)
	row("swarm init", func(r *swarmTimes) float64 { return r.init.Seconds() }, secs)
	row("stack deploy, 5 replicas, until service ls shows 5/5", func(r *swarmTimes) float64 { return r.deploy.Seconds() }, secs)
	row("  ... until all 5 have answered on :80 (routing mesh)", func(r *swarmTimes) float64 { return r.mesh.Seconds() }, secs)
	row("redeploy to 7 replicas + new env, until 7/7 and update completed", func(r *swarmTimes) float64 { return r.update.Seconds() }, secs)
	row("  ... until all 7 have answered the new env on :80", func(r *swarmTimes) float64 { return r.meshUpdate.Seconds() }, secs)
	row("PSS of the one-node swarm with 7 tasks (engine only)", func(r *swarmTimes) float64 { return float64(r.pss) }, mb)
}
