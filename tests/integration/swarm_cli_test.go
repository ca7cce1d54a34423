package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// berthDriver is bin/berth pointed at d with the docker driver's environment.
func berthDriver(t *testing.T, d *testutil.Daemon, docker testutil.Driver) testutil.Driver {
	t.Helper()
	bin := filepath.Join(testutil.BinDir(d.RepoDir), "berth")
	if v := os.Getenv("BERTH_TEST_CLI"); v != "" {
		bin = v
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no berth CLI: %v", err)
	}
	return testutil.Driver{Name: "berth", Bin: bin, Args: []string{"-H", "unix://" + d.Sock}, Env: docker.Env}
}

// sameAsDocker runs args with both CLIs and wants the same exit code,
// stdout and stderr.
func sameAsDocker(t *testing.T, docker, berth testutil.Driver, args ...string) testutil.Result {
	t.Helper()
	ctx := context.Background()
	want := docker.Run(ctx, nil, args...)
	got := berth.Run(ctx, nil, args...)
	if got.Code != want.Code || got.Stdout != want.Stdout || got.Stderr != want.Stderr {
		t.Errorf("%s differs from docker:\n--- docker (exit %d)\n%s%s\n--- berth (exit %d)\n%s%s", strings.Join(args, " "),
			want.Code, want.Stdout, want.Stderr, got.Code, got.Stdout, got.Stderr)
	}
	return got
}

// TestSwarmCLIOutsideASwarm: berth's swarm commands on a node in no swarm
// answer as docker's do (the daemon's 503 words, exit 1).
func TestSwarmCLIOutsideASwarm(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	docker := testutil.DockerDriver(env.daemon, env.cfgDir)
	berth := berthDriver(t, env.daemon, docker)
	for _, args := range [][]string{
		{"node", "ls"}, {"node", "inspect", "self"}, {"node", "ps"}, {"node", "rm", "n1"},
		{"service", "ls"}, {"service", "ps", "web"}, {"service", "inspect", "web"}, {"service", "rm", "web"},
		{"service", "scale", "-d", "web=2"}, {"service", "logs", "web"},
		{"secret", "ls"}, {"secret", "inspect", "s1"}, {"secret", "rm", "s1"}, {"config", "ls"}, {"config", "inspect", "c1"},
		{"stack", "ls"}, {"stack", "ps", "getstartedlab"}, {"stack", "services", "getstartedlab"}, {"stack", "rm", "getstartedlab"},
		{"swarm", "leave"}, {"swarm", "leave", "--force"}, {"swarm", "join-token", "worker"}, {"swarm", "join-token", "-q", "manager"},
		{"swarm", "unlock-key"}, {"swarm", "update", "--task-history-limit", "3"},
	} {
		r := sameAsDocker(t, docker, berth, args...)
		if r.Code == 0 {
			t.Errorf("%v succeeded outside a swarm: %s", args, r)
		}
	}
}

// sameAsDockerSettled is sameAsDockerNow for output that moves on its
// own now and then: a difference is reported only if it is there three
// times.
func sameAsDockerSettled(t *testing.T, docker, berth testutil.Driver, args ...string) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		want, got := docker.Run(ctx, nil, args...), berth.Run(ctx, nil, args...)
		if got.Code == want.Code && stateless(got.Stdout) == stateless(want.Stdout) && got.Stderr == want.Stderr {
			return
		}
		if i == 2 {
			t.Errorf("%s differs from docker:\n--- docker (exit %d)\n%s%s\n--- berth (exit %d)\n%s%s", strings.Join(args, " "),
				want.Code, want.Stdout, want.Stderr, got.Code, got.Stdout, got.Stderr)
			return
		}
		time.Sleep(time.Second)
	}
}

// stateless drops the CURRENT STATE column's age ("Running 5 seconds
// ago") and the CREATED/UPDATED ages, which move between two runs.
var ages = regexp.MustCompile(`(Running|Shutdown|Failed|Preparing|Starting|Complete|Pending|Assigned|Rejected) (less than a second|about an? [a-z]+|[^ ]+( [a-z]+)?) ago|[0-9]+ seconds? ago|About a minute ago|[0-9]+ minutes ago|Less than a second ago`)

// columnGaps are tabwriter's paddings, whose width follows the ages'.
var columnGaps = regexp.MustCompile(`  +`)

func stateless(s string) string {
	return columnGaps.ReplaceAllString(ages.ReplaceAllString(s, "AGE"), "  ")
}

// sameAsDockerNow is sameAsDocker with ages masked.
func sameAsDockerNow(t *testing.T, docker, berth testutil.Driver, args ...string) testutil.Result {
	t.Helper()
	ctx := context.Background()
	want := docker.Run(ctx, nil, args...)
	got := berth.Run(ctx, nil, args...)
	if got.Code != want.Code || stateless(got.Stdout) != stateless(want.Stdout) || got.Stderr != want.Stderr {
		t.Errorf("%s differs from docker:\n--- docker (exit %d)\n%s%s\n--- berth (exit %d)\n%s%s", strings.Join(args, " "),
			want.Code, want.Stdout, want.Stderr, got.Code, got.Stdout, got.Stderr)
	}
	return got
}

// TestSwarmCLITutorial runs the tutorial's swarm chapter through berth
// on a real cluster (init, stack deploy, service ls/ps/scale/update,
// secrets and configs, redeploy, stack rm, leave) and holds every listing
// to what the real docker CLI prints for the same daemon state.
func TestSwarmCLITutorial(t *testing.T) {
	d, docker, berth, _ := kubeSwarmDaemon(t)
	ctx := context.Background()
	buildFriendlyhello(t, docker)

	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r := runLong(initCtx, berth, "swarm", "init")
	if r.Code != 0 || !regexp.MustCompile(`^Swarm initialized: current node \(\S+\) is now a manager.\n\n`).MatchString(r.Stdout) ||
		!strings.HasSuffix(r.Stdout, "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n") {
		t.Fatalf("swarm init: %s", r)
	}
	sameAsDocker(t, docker, berth, "node", "ls")
	// The node's version moves with the kubelet's status updates: the
	// two CLIs are asked until they see the same one.
	sameAsDockerSettled(t, docker, berth, "node", "inspect", "self")
	sameAsDocker(t, docker, berth, "node", "inspect", "-f", "{{.Status.State}} {{.Spec.Availability}}", "self")
	sameAsDocker(t, docker, berth, "node", "inspect", "--pretty", "self")
	sameAsDocker(t, docker, berth, "node", "inspect", "--pretty", "self", "nosuch")
	sameAsDocker(t, docker, berth, "swarm", "join-token", "worker")
	sameAsDocker(t, docker, berth, "swarm", "join-token", "-q", "manager")
	sameAsDocker(t, docker, berth, "stack", "ls")
	sameAsDocker(t, docker, berth, "service", "ls")

	// Secrets and configs.
	if r := berth.Run(ctx, strings.NewReader("s3cret"), "secret", "create", "-l", "a=b", "db_password", "-"); r.Code != 0 || len(r.Out()) < 10 {
		t.Fatalf("secret create: %s", r)
	}
	if r := berth.Run(ctx, strings.NewReader("hello"), "config", "create", "motd", "-"); r.Code != 0 {
		t.Fatalf("config create: %s", r)
	}
	sameAsDockerNow(t, docker, berth, "secret", "ls")
	sameAsDockerNow(t, docker, berth, "config", "ls")
	sameAsDocker(t, docker, berth, "secret", "ls", "--format", "{{.Name}} {{.Labels}}")
	sameAsDocker(t, docker, berth, "secret", "inspect", "db_password")
	sameAsDocker(t, docker, berth, "config", "inspect", "--format", "{{printf \"%s\" .Spec.Data}}", "motd")
	sameAsDocker(t, docker, berth, "secret", "inspect", "nosuch")
	sameAsDocker(t, docker, berth, "secret", "inspect", "--pretty", "db_password", "nosuch")
	sameAsDocker(t, docker, berth, "config", "inspect", "--pretty", "motd")
	if r := berth.Run(ctx, nil, "secret", "rm", "db_password"); r.Out() != "db_password" {
		t.Errorf("secret rm: %s", r)
	}
	if r := berth.Run(ctx, nil, "config", "rm", "motd"); r.Out() != "motd" {
		t.Errorf("config rm: %s", r)
	}

	dir := t.TempDir()
	compose := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(compose, []byte(testutil.TutorialCompose("World", 5)), 0o644)
	r = berth.Run(ctx, nil, "stack", "deploy", "-c", compose, "getstartedlab")
	if r.Code != 0 || r.Stdout != "Creating network getstartedlab_webnet\nCreating service getstartedlab_web\n" ||
		r.Stderr != "Since --detach=false was not specified, tasks will be created in the background.\nIn a future release, --detach=false will become the default.\n" {
		t.Fatalf("stack deploy: %s", r)
	}
	waitTasks(t, berth, "getstartedlab_web", 5)
	time.Sleep(2 * time.Second) // let the task list settle before comparing
	sameAsDockerNow(t, docker, berth, "service", "ls")
	sameAsDockerNow(t, docker, berth, "stack", "ls")
	sameAsDockerNow(t, docker, berth, "stack", "services", "getstartedlab")
	sameAsDockerNow(t, docker, berth, "stack", "ps", "getstartedlab")
	sameAsDockerNow(t, docker, berth, "service", "ps", "getstartedlab_web")
	sameAsDockerNow(t, docker, berth, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "getstartedlab_web")
	sameAsDockerNow(t, docker, berth, "service", "ps", "-q", "getstartedlab_web")
	sameAsDockerNow(t, docker, berth, "node", "ps")
	sameAsDocker(t, docker, berth, "service", "ps", "nosuch")
	sameAsDocker(t, docker, berth, "service", "inspect", "getstartedlab_web")
	sameAsDocker(t, docker, berth, "service", "inspect", "-f", "{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}", "getstartedlab_web")
	sameAsDocker(t, docker, berth, "service", "inspect", "nosuch")
	sameAsDocker(t, docker, berth, "service", "inspect", "--pretty", "getstartedlab_web")
	sameAsDocker(t, docker, berth, "service", "inspect", "--pretty", "getstartedlab_web", "nosuch")
	sameAsDocker(t, docker, berth, "stack", "ps", "nosuch")
	sameAsDocker(t, docker, berth, "stack", "services", "nosuch")
	// scale and update, detached and waiting.
	if r := berth.Run(ctx, nil, "service", "scale", "-d", "getstartedlab_web=3"); r.Code != 0 || r.Stdout != "getstartedlab_web scaled to 3\n" {
		t.Fatalf("service scale: %s", r)
	}
	waitTasks(t, berth, "getstartedlab_web", 3)
	r = runLong(initCtx, berth, "service", "scale", "getstartedlab_web=4")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "getstartedlab_web scaled to 4\n") || !strings.HasSuffix(r.Stdout, "verify: Service getstartedlab_web converged\n") {
		t.Fatalf("service scale (waiting): %s", r)
	}
	r = runLong(initCtx, berth, "service", "update", "--env-add", "NAME=Update", "getstartedlab_web")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "getstartedlab_web\n") || !strings.HasSuffix(r.Stdout, "verify: Service getstartedlab_web converged\n") {
		t.Fatalf("service update: %s", r)
	}
	// The update's end is recorded by the daemon's monitor (every 2 s),
	// which may fall between the two CLIs' calls.
	sameAsDockerSettled(t, docker, berth, "service", "inspect", "--pretty", "getstartedlab_web")
	if r := berth.Run(ctx, nil, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Env}}", "getstartedlab_web"); r.Out() != "[NAME=Update]" {
		t.Errorf("env after update: %s", r)
	}
	waitTasks(t, berth, "getstartedlab_web", 4)
	waitAnswer(t, "Hello Update from ", 2*time.Minute)

	// A service of its own, whose tasks log: create, ps, logs, rm.
	r = berth.Run(ctx, nil, "service", "create", "-d", "--name", "logger", "--replicas", "2", "--env", "GREETING=hi",
		"busybox", "sh", "-c", "echo $GREETING from $(hostname); echo oops >&2; exec sleep 600")
	if r.Code != 0 || r.Out() != berth.Run(ctx, nil, "service", "inspect", "-f", "{{.ID}}", "logger").Out() {
		t.Fatalf("service create: %s", r)
	}
	waitTasks(t, berth, "logger", 2)
	sameAsDockerNow(t, docker, berth, "service", "ps", "logger")
	sameAsDockerNow(t, docker, berth, "service", "ls")
	deadline := time.Now().Add(time.Minute)
	for {
		logsW, logsG := docker.Run(ctx, nil, "service", "logs", "logger"), berth.Run(ctx, nil, "service", "logs", "logger")
		same := logsG.Code == 0 && sortedLines(logsG.Stdout) == sortedLines(logsW.Stdout) && sortedLines(logsG.Stderr) == sortedLines(logsW.Stderr)
		// As from dockerd: the tasks' stdout on stdout, their stderr on
		// stderr, with either CLI.
		if same && strings.Count(logsG.Stdout, "    | hi from logger-") == 2 && strings.Count(logsG.Stderr, "    | oops") == 2 &&
			!strings.Contains(logsG.Stdout, "oops") && !strings.Contains(logsG.Stderr, "hi from") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service logs differ:\n--- docker\n%s%s\n--- berth\n%s%s", logsW.Stdout, logsW.Stderr, logsG.Stdout, logsG.Stderr)
		}
		time.Sleep(time.Second)
	}
	// The replicas' lines interleave in no fixed order.
	if rawW, rawG := docker.Run(ctx, nil, "service", "logs", "--raw", "logger"), berth.Run(ctx, nil, "service", "logs", "--raw", "logger"); rawG.Code != 0 ||
		sortedLines(rawG.Stdout) != sortedLines(rawW.Stdout) || sortedLines(rawG.Stderr) != sortedLines(rawW.Stderr) {
		t.Errorf("service logs --raw differs:\n--- docker\n%s%s\n--- berth\n%s%s", rawW.Stdout, rawW.Stderr, rawG.Stdout, rawG.Stderr)
	}
	// --tail and -f: the last line of each task (which of its two lines
	// the runtime logged last is its business), then what they write.
	if tw, tg := docker.Run(ctx, nil, "service", "logs", "--raw", "--tail", "1", "logger"), berth.Run(ctx, nil, "service", "logs", "--raw", "--tail", "1", "logger"); tg.Code != 0 ||
		strings.Count(tg.Stdout+tg.Stderr, "\n") != 2 || sortedLines(tw.Stdout) != sortedLines(tg.Stdout) || sortedLines(tw.Stderr) != sortedLines(tg.Stderr) {
		t.Errorf("service logs --tail 1:\n--- docker\n%s%s\n--- berth\n%s%s", tw.Stdout, tw.Stderr, tg.Stdout, tg.Stderr)
	}
	followW, followG := followLogs(t, docker, "logger"), followLogs(t, berth, "logger")
	task := strings.Fields(docker.Run(ctx, nil, "ps", "-q", "--filter", "label=io.kubernetes.container.name=task", "--filter", "label=io.kubernetes.pod.namespace=default").Stdout)
	if len(task) == 0 {
		t.Fatal("no task container of logger in ps")
	}
	time.Sleep(2 * time.Second) // the followers have read what was there
	if r := docker.Run(ctx, nil, "exec", task[0], "sh", "-c", "echo late >/proc/1/fd/1; echo late-err >/proc/1/fd/2"); r.Code != 0 {
		t.Fatalf("exec: %s", r)
	}
	// A task that starts while they follow is followed too, as in swarm.
	if r := berth.Run(ctx, nil, "service", "scale", "-d", "logger=3"); r.Code != 0 {
		t.Fatalf("service scale: %s", r)
	}
	for name, followed := range map[string]func(time.Duration) (string, string){"docker": followW, "berth": followG} {
		if so, se := followed(2 * time.Minute); !strings.Contains(so, "| late\n") || strings.Contains(so, "late-err") || !strings.Contains(se, "| late-err\n") || strings.Contains(se, "| late\n") ||
			!strings.Contains(so, "| hi from logger-") || !strings.Contains(se, "| oops\n") {
			t.Errorf("%s service logs -f:\n--- stdout\n%s--- stderr\n%s", name, so, se)
		}
	}
	if r := berth.Run(ctx, nil, "service", "rm", "logger", "nosuch"); r.Code != 1 || r.Stdout != "logger\n" || !strings.Contains(r.Stderr, "nosuch") {
		t.Errorf("service rm: %s", r)
	}
	restarts := checkLogsAcrossRestarts(t, docker, berth)
	checkProgress(t, docker, berth)
	restarts()

	// Redeploy: updated in place, with the daemon's warning.
	os.WriteFile(compose, []byte(testutil.TutorialCompose("Berth", 7)), 0o644)
	r = berth.Run(ctx, nil, "stack", "deploy", "-d", "-c", compose, "getstartedlab")
	if r.Code != 0 || !regexp.MustCompile(`^Updating service getstartedlab_web \(id: \S+\)\n$`).MatchString(r.Stdout) ||
		!strings.Contains(r.Stderr, "restart_policy.condition on-failure") {
		t.Fatalf("redeploy: %s", r)
	}
	waitTasks(t, berth, "getstartedlab_web", 7)
	sameAsDockerNow(t, docker, berth, "stack", "services", "getstartedlab")

	sameAsDocker(t, docker, berth, "stack", "rm", "nosuchstack")
	if r := berth.Run(ctx, nil, "stack", "rm", "getstartedlab"); r.Code != 0 || r.Stdout != "Removing service getstartedlab_web\nRemoving network getstartedlab_webnet\n" {
		t.Fatalf("stack rm: %s", r)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		left := docker.Run(ctx, nil, "ps", "-aq", "--filter", "label=io.kubernetes.pod.namespace=getstartedlab").Out()
		if left == "" && berth.Run(ctx, nil, "service", "ls", "-q").Out() == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stack rm: containers %q", left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r := runLong(ctx, berth, "swarm", "leave", "--force"); r.Code != 0 || r.Stdout != "Node left the swarm.\n" {
		t.Fatalf("swarm leave: %s", r)
	}
	if r := docker.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after leave: %s", r)
	}
	waitNoFrontEnd(t, d)
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// followLogs starts `service logs -f --since now` and returns a function
// that waits (up to max) until stdout has "late" and a new task's "hi
// from" and stderr "late-err" and its "oops", stops it and returns both.
func followLogs(t *testing.T, dr testutil.Driver, service string) func(max time.Duration) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := dr.Command(ctx, "service", "logs", "-f", "--since", time.Now().UTC().Format(time.RFC3339), service)
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return func(max time.Duration) (string, string) {
		deadline := time.Now().Add(max)
		for time.Now().Before(deadline) && !(strings.Contains(so.String(), "| late\n") && strings.Contains(se.String(), "| late-err\n") &&
			strings.Contains(so.String(), "| hi from logger-") && strings.Contains(se.String(), "| oops\n")) {
			time.Sleep(500 * time.Millisecond)
		}
		cancel()
		<-done
		return so.String(), se.String()
	}
}

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
