package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestSwarmInitWithoutKubeBinaries: on a host whose Kubernetes binary cache
// is empty, swarm init refuses at once and says to run `make kube`, instead
// of starting a ten-minute build inside the request; it builds nothing,
// writes nothing to the cache and leaves the node out of any swarm.
func TestSwarmInitWithoutKubeBinaries(t *testing.T) {
	cache := t.TempDir()
	// berthd hands its environment to the build script it embeds.
	t.Setenv("BERTH_KUBE_CACHE", cache)
	d, dr := swarmDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := runLong(ctx, dr, "swarm", "init")
	if ctx.Err() != nil {
		t.Fatalf("swarm init did not come back within a minute: %s", r)
	}
	if r.Code != 1 || !strings.Contains(r.Stderr, "the Kubernetes binaries are not built on this host") || !strings.Contains(r.Stderr, "run `make kube`") {
		t.Fatalf("swarm init: %s", r)
	}
	if !strings.Contains(r.Stderr, "kubelet") {
		t.Errorf("the message does not name the missing binaries: %s", r.Stderr)
	}
	if r := dr.Run(context.Background(), nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after the refusal: %s", r)
	}
	waitNoFrontEnd(t, d)
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the check wrote into the cache: %v", entries)
	}
	for _, p := range []string{filepath.Join(d.Root, "swarm", "state.json"), filepath.Join(d.Root, "cluster")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
}

// TestSwarmUpdateRollback: an update whose new tasks cannot start (an image
// that cannot be pulled) rolls back by itself when the service says
// failure_action rollback, with the update status dockerd reports
// (rollback_started with the reason, then rollback_completed), the old
// image running again and the failed spec as the previous one; and
// `docker service rollback` goes back to the previous spec on request.
func TestSwarmUpdateRollback(t *testing.T) {
	if testutil.KubeBinDir() == "" {
		t.Skip("Kubernetes binaries not built: run make kube")
	}
	swarmBerthdOnly(t)
	testutil.KubeLock(t)
	_, dr := swarmDaemon(t)
	ctx := context.Background()
	importBusybox(t, dr)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, dr, "swarm", "init"); r.Code != 0 {
		t.Fatalf("swarm init: %s", r)
	}
	if r := dr.Run(ctx, nil, "service", "create", "-d", "--name", "web", "--replicas", "2",
		"--update-failure-action", "rollback", "--update-monitor", "5s", "busybox:latest", "sleep", "3600"); r.Code != 0 {
		t.Fatalf("service create: %s", r)
	}
	waitTasks(t, dr, "web", 2)

	// Nothing answers on 127.0.0.1:1: the new tasks fail to pull at once.
	if r := dr.Run(ctx, nil, "service", "update", "-d", "--image", "127.0.0.1:1/nosuch:1", "web"); r.Code != 0 {
		t.Fatalf("service update: %s", r)
	}
	seen := map[string]string{}
	waitUpdate := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			r := dr.Run(ctx, nil, "service", "inspect", "-f", "{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.Message}}{{end}}", "web")
			state, msg, _ := strings.Cut(r.Out(), "|")
			if state != "" {
				seen[state] = msg
			}
			if state == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("update status never %s: last %q; seen %v\n%s", want, r.Out(), seen, dr.Run(ctx, nil, "service", "ps", "--no-trunc", "web"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitUpdate("rollback_completed")
	if msg, ok := seen["rollback_started"]; !ok || !strings.HasPrefix(msg, "update rolled back due to failure or early termination of task") {
		t.Errorf("rollback_started not reported with swarm's reason: %v", seen)
	}
	if _, ok := seen["paused"]; ok {
		t.Errorf("a failed update with failure_action rollback showed as paused: %v", seen)
	}
	if r := dr.Run(ctx, nil, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.PreviousSpec.TaskTemplate.ContainerSpec.Image}}", "web"); r.Out() != "busybox:latest 127.0.0.1:1/nosuch:1" {
		t.Errorf("after the rollback: spec and previous image %q", r.Out())
	}
	waitTasks(t, dr, "web", 2)
	if r := dr.Run(ctx, nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Image}}", "web"); strings.Count(r.Out(), "busybox:latest") != 2 {
		t.Errorf("running tasks after the rollback: %s", r)
	}

	// A manual rollback: update the env, then go back.
	if r := dr.Run(ctx, nil, "service", "update", "-d", "--env-add", "COLOUR=blue", "web"); r.Code != 0 {
		t.Fatalf("service update: %s", r)
	}
	waitUpdate("completed")
	seen = map[string]string{}
	if r := dr.Run(ctx, nil, "service", "rollback", "-d", "web"); r.Code != 0 {
		t.Fatalf("service rollback: %s", r)
	}
	waitUpdate("rollback_completed")
	if msg, ok := seen["rollback_started"]; (ok && msg != "manually requested rollback") || seen["rollback_completed"] != "rollback completed" {
		t.Errorf("manual rollback status: %v", seen)
	}
	if r := dr.Run(ctx, nil, "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Env}}", "web"); strings.Contains(r.Out(), "COLOUR") {
		t.Errorf("env after the rollback: %s", r)
	}
	waitTasks(t, dr, "web", 2)
	if r := dr.Run(ctx, nil, "service", "rm", "web"); r.Code != 0 {
		t.Errorf("service rm: %s", r)
	}
}
