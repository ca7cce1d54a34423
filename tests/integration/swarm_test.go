package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestSwarmOutsideASwarm: the swarm commands of the real docker CLI on a
// node that is in no swarm fail as against dockerd (same message, exit
// code 1), never with "page not found".
func TestSwarmOutsideASwarm(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	ctx := context.Background()
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	const notManager = "Error response from daemon: This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."
	for _, args := range [][]string{
		{"node", "ls"}, {"service", "ls"}, {"service", "ps", "web"}, {"service", "inspect", "web"}, {"secret", "ls"},
		{"config", "ls"}, {"stack", "ls"}, {"stack", "ps", "getstartedlab"}, {"network", "create", "-d", "overlay", "swarmnet"},
	} {
		r := dr.Run(ctx, nil, args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, notManager) {
			t.Errorf("docker %s: %s", strings.Join(args, " "), r)
		}
	}
	if r := dr.Run(ctx, nil, "swarm", "leave"); r.Code != 1 || !strings.Contains(r.Stderr, "Error response from daemon: This node is not part of a swarm") {
		t.Errorf("swarm leave: %s", r)
	}
	if r := dr.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info: %s", r)
	}
	if r := dr.Run(ctx, nil, "network", "ls", "--filter", "name=swarmnet", "-q"); r.Code != 0 || r.Out() != "" {
		t.Errorf("a refused overlay network was made: %s", r)
	}
}

// swarmDaemon starts a berthd of its own for a swarm test and removes
// everything at the end.
func swarmDaemon(t *testing.T, extra ...string) (*testutil.Daemon, testutil.Driver) {
	t.Helper()
	swarmBerthdOnly(t)
	dir, err := os.MkdirTemp("", "berth-swarm-")
	if err != nil {
		t.Fatal(err)
	}
	d, err := testutil.StartBerthdIn(context.Background(), dir, extra...)
	if err != nil {
		testutil.RemoveDir(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dr := testutil.DockerDriver(d, filepath.Join(dir, "cfg"))
		dr.Run(context.Background(), nil, "swarm", "leave", "--force")
		if err := d.Shutdown(); err != nil {
			t.Error(err)
			d.Kill()
		}
		for _, pid := range frontEnds(d) {
			t.Errorf("berth-swarm %d outlived its daemon", pid)
		}
		if err := testutil.RemoveDir(dir); err != nil {
			t.Error(err)
		}
	})
	return d, testutil.DockerDriver(d, filepath.Join(dir, "cfg"))
}

// frontEnds are the berth-swarm processes of d.
func frontEnds(d *testutil.Daemon) []int {
	return testutil.ProcsWithArg("", filepath.Join(d.Root, "swarm"))
}

func waitNoFrontEnd(t *testing.T, d *testutil.Daemon) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(frontEnds(d)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("berth-swarm still running: %v", frontEnds(d))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSwarmInitFailsCleanly: a swarm init whose Kubernetes cannot be had
// says why, exits 1 and leaves the node as it was: not in a swarm, no
// front end process, no swarm state.
func TestSwarmInitFailsCleanly(t *testing.T) {
	d, dr := swarmDaemon(t, "--swarm-kubeconfig", "/nonexistent/kubeconfig")
	ctx := context.Background()
	r := dr.Run(ctx, nil, "swarm", "init")
	if r.Code != 1 || !strings.Contains(r.Stderr, "swarm kubeconfig: open /nonexistent/kubeconfig: no such file or directory") {
		t.Fatalf("swarm init: %s", r)
	}
	if r := dr.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Fatalf("info after a failed init: %s", r)
	}
	if r := dr.Run(ctx, nil, "node", "ls"); r.Code != 1 || !strings.Contains(r.Stderr, "not a swarm manager") {
		t.Fatalf("node ls after a failed init: %s", r)
	}
	waitNoFrontEnd(t, d)
	if _, err := os.Stat(filepath.Join(d.Root, "swarm", "state.json")); !os.IsNotExist(err) {
		t.Fatalf("swarm state left: %v", err)
	}
}

// TestSwarmTutorial runs the tutorial's swarm chapter with the real docker
// CLI: init, stack deploy of the 5-replica web service, limits in the
// tasks' cgroups, the routing mesh on 127.0.0.1:80 balancing over the
// replicas, a redeploy to 7 replicas with a new env value under a request
// loop that sees no failure, the stack commands, stack rm and leave
// leaving nothing.
func TestSwarmTutorial(t *testing.T) {
	d, dr, _, kubectl := kubeSwarmDaemon(t)
	ctx := context.Background()
	if c, err := d.Client(ctx); err != nil {
		t.Fatal(err)
	} else if _, err := c.ClusterStatus(ctx); err != nil {
		t.Skipf("this berthd has no cluster support: %v", err)
	}
	// The image: busybox answering with its hostname and $NAME.
	buildFriendlyhello(t, dr)

	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, dr, "swarm", "init"); r.Code != 0 || !strings.Contains(r.Stdout, "Swarm initialized") {
		t.Fatalf("swarm init: %s", r)
	}
	if r := dr.Run(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"); r.Code != 0 || !strings.Contains(r.Stdout, "Ready Leader") {
		t.Fatalf("node ls: %s", r)
	}
	dir := t.TempDir()
	compose := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(compose, []byte(testutil.TutorialCompose("World", 5)), 0o644)
	r := dr.Run(ctx, nil, "stack", "deploy", "-c", compose, "getstartedlab")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Creating service getstartedlab_web") {
		t.Fatalf("stack deploy: %s", r)
	}
	waitTasks(t, dr, "getstartedlab_web", 5)

	// kubectl get deploy,pods,svc -n getstartedlab shows the same objects.
	checkServiceObjects(t, kubectl, "getstartedlab", "web", 5, 80)

	// The limits are in the tasks' cgroups.
	ids := strings.Fields(dr.Run(ctx, nil, "ps", "-q", "--filter", "label=io.kubernetes.pod.namespace=getstartedlab", "--filter", "label=io.kubernetes.container.name=task").Stdout)
	if len(ids) != 5 {
		t.Fatalf("%d task containers in berth ps", len(ids))
	}
	for _, id := range ids {
		pid, _ := strconv.Atoi(dr.Run(ctx, nil, "inspect", "-f", "{{.State.Pid}}", id).Out())
		mem, _ := testutil.CgroupOf(pid, "memory")
		cpu, _ := testutil.CgroupOf(pid, "cpu")
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", mem, "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(b)) != "52428800" {
			t.Errorf("task %s memory limit %q %v", id, b, err)
		}
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", cpu, "cpu.cfs_quota_us")); err != nil || strings.TrimSpace(string(b)) != "10000" {
			t.Errorf("task %s cpu quota %q %v", id, b, err)
		}
	}

	// The routing mesh: 127.0.0.1:80 answers from different replicas.
	hosts := map[string]bool{}
	var lastErr error
	var lastBody string
	// A task is Running once its process started; httpd may listen a
	// moment later on a loaded machine, so failures are retried for a while.
	meshDeadline := time.Now().Add(time.Minute)
	for i := 0; i < 40 && len(hosts) < 3 && time.Now().Before(meshDeadline); i++ {
		body, err := httpGet("http://127.0.0.1:80/cgi-bin/index")
		if err == nil && strings.HasPrefix(body, "Hello World from ") {
			hosts[strings.TrimPrefix(body, "Hello World from ")] = true
		} else {
			i-- // only answers count towards the 40 tries
			time.Sleep(200 * time.Millisecond)
		}
		lastErr, lastBody = err, body
	}
	if len(hosts) < 2 {
		t.Fatalf("127.0.0.1:80 answered from %d replicas: %v (last: %v %q)", len(hosts), hosts, lastErr, lastBody)
	}

	// Redeploy: 7 replicas and a new NAME, in place, with no failed request.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if body, err := httpGet("http://127.0.0.1:80/cgi-bin/index"); err == nil && strings.HasPrefix(body, "Hello ") {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	os.WriteFile(compose, []byte(testutil.TutorialCompose("Berth", 7)), 0o644)
	r = dr.Run(ctx, nil, "stack", "deploy", "-c", compose, "getstartedlab")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Updating service getstartedlab_web") {
		t.Fatalf("redeploy: %s", r)
	}
	// The CLI prints a service's warnings on update only (not on create).
	if !strings.Contains(r.Stderr, "restart_policy.condition on-failure") {
		t.Errorf("stack deploy does not warn about on-failure: %s", r.Stderr)
	}
	waitTasks(t, dr, "getstartedlab_web", 7)
	checkServiceObjects(t, kubectl, "getstartedlab", "web", 7, 80)
	waitAnswer(t, "Hello Berth from ", 3*time.Minute)
	time.Sleep(5 * time.Second) // let the rollout finish under the loop
	close(stop)
	<-loopDone
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("during the update: %d requests answered, %d failed", ok.Load(), failed.Load())
	}
	if r := dr.Run(ctx, nil, "service", "inspect", "-f", "{{.ID}}", "getstartedlab_web"); r.Code != 0 {
		t.Errorf("service inspect: %s", r)
	}

	if r := dr.Run(ctx, nil, "stack", "ls"); r.Code != 0 || !strings.Contains(r.Stdout, "getstartedlab") {
		t.Errorf("stack ls: %s", r)
	}
	if r := dr.Run(ctx, nil, "stack", "services", "getstartedlab"); r.Code != 0 || !strings.Contains(r.Stdout, "7/7") || !strings.Contains(r.Stdout, "*:80->80/tcp") {
		t.Errorf("stack services: %s", r)
	}
	if r := dr.Run(ctx, nil, "stack", "ps", "getstartedlab"); r.Code != 0 || !strings.Contains(r.Stdout, "getstartedlab_web.7") {
		t.Errorf("stack ps: %s", r)
	}
	if r := dr.Run(ctx, nil, "stack", "rm", "nosuchstack"); !strings.Contains(r.Stdout+r.Stderr, "Nothing found in stack: nosuchstack") {
		t.Errorf("stack rm of an unknown stack: %s", r)
	}
	if r := dr.Run(ctx, nil, "stack", "rm", "getstartedlab"); r.Code != 0 {
		t.Fatalf("stack rm: %s", r)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := dr.Run(ctx, nil, "ps", "-aq", "--filter", "label=io.kubernetes.pod.namespace=getstartedlab").Out()
		services := dr.Run(ctx, nil, "service", "ls", "-q").Out()
		if left == "" && services == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stack rm: containers %q services %q", left, services)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := httpGet("http://127.0.0.1:80/"); err == nil {
		t.Errorf("port 80 still answers after stack rm")
	}
	if r := runLong(ctx, dr, "swarm", "leave", "--force"); r.Code != 0 {
		t.Fatalf("swarm leave: %s", r)
	}
	if r := dr.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after leave: %s", r)
	}
	waitNoFrontEnd(t, d)
	if r := dr.Run(ctx, nil, "ps", "-aq"); r.Out() != "" {
		t.Errorf("containers left after leave: %s", r.Out())
	}
}

// swarmBerthdOnly skips t on another target: the swarm tests start berthds
// of their own. Tests that take the host's cluster lock call it first, so a
// dockerd run does not wait for another run's cluster only to skip.
func swarmBerthdOnly(t *testing.T) {
	t.Helper()
	if testutil.TargetFromEnv() != testutil.TargetBerthd {
		t.Skip("berthd only")
	}
}

// kubeSwarmDaemon is swarmDaemon for a test that brings a cluster up: it
// skips without the Kubernetes binaries and holds the host's cluster lock.
// It returns the daemon, the docker CLI and berth on it, and `berth kubectl`.
func kubeSwarmDaemon(t *testing.T, extra ...string) (d *testutil.Daemon, docker, berth, kubectl testutil.Driver) {
	t.Helper()
	if testutil.KubeBinDir() == "" {
		t.Skip("Kubernetes binaries not built (no /var/cache/berth-kube/k8s-*/bin with kube-apiserver, kubelet...): run make kube")
	}
	swarmBerthdOnly(t)
	testutil.KubeLock(t)
	d, docker = swarmDaemon(t, extra...)
	berth = berthDriver(t, d, docker)
	kubectl = berth
	kubectl.Args = append(append([]string(nil), berth.Args...), "kubectl")
	return d, docker, berth, kubectl
}

// waitAnswer waits until 127.0.0.1:80 (the routing mesh) answers with a
// body that starts with prefix.
func waitAnswer(t *testing.T, prefix string, max time.Duration) {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		body, _ := httpGet("http://127.0.0.1:80/cgi-bin/index")
		if strings.HasPrefix(body, prefix) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1:80 never answered %q: %q", prefix, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// importBusybox imports busybox:latest (from Debian's busybox-static) into
// the daemon dr drives.
func importBusybox(t *testing.T, dr testutil.Driver) {
	t.Helper()
	bb, err := testutil.BusyboxTarBytes()
	if err != nil {
		t.Fatal(err)
	}
	if r := dr.Run(context.Background(), bytes.NewReader(bb), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatal(r)
	}
}

// buildFriendlyhello imports busybox and builds the tutorial's image
// friendlyhello, which answers with its hostname and $NAME.
func buildFriendlyhello(t *testing.T, dr testutil.Driver) {
	t.Helper()
	importBusybox(t, dr)
	bctx := t.TempDir()
	os.WriteFile(filepath.Join(bctx, "Dockerfile"), []byte(testutil.TutorialDockerfile), 0o644)
	if r := dr.Run(context.Background(), nil, "build", "-t", "friendlyhello", bctx); r.Code != 0 {
		t.Fatal(r)
	}
}

// waitTasks waits until service has n tasks Running.
func waitTasks(t *testing.T, dr testutil.Driver, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r := dr.Run(context.Background(), nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", service)
		running := strings.Count(r.Stdout, "Running")
		if running == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d tasks running:\n%s", service, running, n, dr.Run(context.Background(), nil, "service", "ps", "--no-trunc", service))
		}
		time.Sleep(time.Second)
	}
}

func runLong(ctx context.Context, dr testutil.Driver, args ...string) testutil.Result {
	cmd := dr.Command(ctx, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := testutil.Result{Args: args, Stdout: so.String(), Stderr: se.String()}
	if err != nil {
		r.Code = 1
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			r.Code = ee.ExitCode()
		}
	}
	return r
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), err
}
