package integration

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// psRow is a row of `docker service ps --no-trunc`'s table.
type psRow struct {
	id, name, desired, state string
	child                    bool // shown as ` \_ NAME` under its slot's newer task
}

var psColumns = regexp.MustCompile(`\s{2,}`)

func serviceTable(t *testing.T, dr testutil.Driver, args ...string) []psRow {
	t.Helper()
	r := dr.Run(context.Background(), nil, append([]string{"service", "ps", "--no-trunc"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("service ps %v: %s", args, r)
	}
	var out []psRow
	for i, l := range strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n") {
		if i == 0 {
			continue // the header
		}
		// ID, NAME, IMAGE, NODE, DESIRED STATE, CURRENT STATE, ...
		f := psColumns.Split(strings.TrimSpace(l), -1)
		if len(f) < 6 {
			t.Fatalf("service ps: row %q", l)
		}
		name := strings.TrimPrefix(f[1], `\_ `)
		out = append(out, psRow{id: f[0], name: name, desired: f[4], state: f[5], child: name != f[1]})
	}
	return out
}

// slotRows are the rows of a slot in the order they came.
func slotRows(rows []psRow, name string) []psRow {
	var out []psRow
	for _, r := range rows {
		if r.name == name {
			out = append(out, r)
		}
	}
	return out
}

// TestSwarmTaskHistory: the tasks a service update replaces stay listed
// once their pods are gone, as swarm keeps a slot's earlier tasks (up to
// the swarm's task history limit, the current task included): `service
// ps` shows under each running task its replaced ones (Shutdown), `--filter
// desired-state=running` hides them, inspect and `service logs` of such a
// task answer as dockerd's do, `swarm update --task-history-limit` trims
// the history, a scale-down keeps the removed slot's history, and `service
// rm` leaves no history object in Kubernetes.
func TestSwarmTaskHistory(t *testing.T) {
	_, dr, _, kubectl := kubeSwarmDaemon(t)
	ctx := context.Background()
	importBusybox(t, dr)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, dr, "swarm", "init"); r.Code != 0 {
		t.Fatalf("swarm init: %s", r)
	}
	if r := dr.Run(ctx, nil, "info", "--format", "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}"); strings.TrimSpace(r.Stdout) != "5" {
		t.Errorf("docker info's task history limit: %s", r)
	}
	run := func(args ...string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if r := runLong(c, dr, args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	// waitPods waits until the service's pods are down to n: the tasks
	// the rollout replaced are then listed from the history only.
	waitPods := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
			pods := kubeGet(t, kubectl, "default", "pods")
			if len(pods) == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d pods left, want %d: %+v", len(pods), n, pods)
			}
		}
	}
	// The CLI waits for each to converge.
	run("service", "create", "--name", "hist", "--replicas", "2", "--stop-grace-period", "1s", "busybox:latest", "sleep", "600")
	run("service", "update", "--env-add", "X=1", "hist")
	run("service", "update", "--env-add", "Y=1", "hist")
	waitPods(2)

	// checkSlots wants each slot's running task first, then the given
	// number of replaced ones under it, newest first (ps' order).
	checkSlots := func(rows []psRow, history ...int) map[string]bool {
		t.Helper()
		ids := map[string]bool{}
		for i, n := range history {
			name := "hist." + string(rune('1'+i))
			got := slotRows(rows, name)
			ok := len(got) == 1+n && got[0].desired == "Running" && strings.HasPrefix(got[0].state, "Running") && !got[0].child
			for _, r := range got[min(1, len(got)):] {
				ok = ok && r.child && r.desired == "Shutdown" && strings.HasPrefix(r.state, "Shutdown")
			}
			if !ok {
				t.Fatalf("slot %s: want a running task and %d shut down under it: %+v", name, n, rows)
			}
			for _, r := range got {
				ids[r.id] = true
			}
		}
		if len(ids) != len(rows) {
			t.Fatalf("rows of other slots or the same task twice: %+v", rows)
		}
		return ids
	}
	rows := serviceTable(t, dr, "hist")
	checkSlots(rows, 2, 2)
	if cms := kubeGet(t, kubectl, "default", "configmaps"); !hasObject(cms, "swarm-history-hist") {
		t.Errorf("no history ConfigMap: %+v", cms)
	}
	// The replaced tasks ran the specs before each update.
	for _, name := range []string{"hist.1", "hist.2"} {
		got := slotRows(rows, name)
		var envs []string
		for _, r := range got {
			// The docker CLI's --env-add rebuilds the list from a map, so
			// its order is random: compare each task's env sorted.
			var env []string
			raw := strings.TrimSpace(dr.Run(ctx, nil, "inspect", "--format", "{{json .Spec.ContainerSpec.Env}}", r.id).Stdout)
			if err := json.Unmarshal([]byte(raw), &env); err != nil {
				t.Fatalf("%s: env %q: %v", name, raw, err)
			}
			sort.Strings(env)
			b, _ := json.Marshal(env)
			envs = append(envs, string(b))
		}
		if strings.Join(envs, " ") != `["X=1","Y=1"] ["X=1"] null` {
			t.Errorf("%s: the tasks' env, newest first: %v", name, envs)
		}
	}

	running := serviceTable(t, dr, "--filter", "desired-state=running", "hist")
	if len(running) != 2 || running[0].desired != "Running" || running[1].desired != "Running" {
		t.Errorf("--filter desired-state=running: %+v", running)
	}
	if shut := serviceTable(t, dr, "--filter", "desired-state=shutdown", "hist"); len(shut) != 4 {
		t.Errorf("--filter desired-state=shutdown: %+v", shut)
	}
	old := slotRows(rows, "hist.2")[2]
	if r := dr.Run(ctx, nil, "inspect", "--format", "{{.ID}} {{.Slot}} {{.DesiredState}} {{.Status.State}} {{.Status.Message}}", old.id); r.Code != 0 ||
		strings.TrimSpace(r.Stdout) != old.id+" 2 shutdown shutdown shutdown" {
		t.Errorf("inspect of a replaced task: %s", r)
	}
	// Its pod and its log are gone: no lines, as dockerd answers for a
	// task without a log (a rejected one).
	if r := dr.Run(ctx, nil, "service", "logs", old.id); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("service logs of a replaced task: %s", r)
	}
	if r := dr.Run(ctx, nil, "service", "logs", "hist"); r.Code != 0 {
		t.Errorf("service logs: %s", r)
	}

	// A limit of 2 keeps one replaced task per slot.
	run("swarm", "update", "--task-history-limit", "2")
	if r := dr.Run(ctx, nil, "info", "--format", "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}"); strings.TrimSpace(r.Stdout) != "2" {
		t.Errorf("docker info's task history limit after swarm update: %s", r)
	}
	run("service", "update", "--env-add", "Z=1", "hist")
	waitPods(2)
	rows = serviceTable(t, dr, "hist")
	checkSlots(rows, 1, 1)

	// Scale to 1: the removed task goes once it is down, the removed
	// slot's history stays (dockerd 20.10 does the same).
	run("service", "scale", "hist=1")
	waitPods(1)
	var slot1, slot2 []psRow
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		rows = serviceTable(t, dr, "hist")
		slot1, slot2 = slotRows(rows, "hist.1"), slotRows(rows, "hist.2")
		if len(slot1)+len(slot2) == 3 || time.Now().After(deadline) {
			break
		}
	}
	running = serviceTable(t, dr, "--filter", "desired-state=running", "hist")
	if len(rows) != 3 || len(running) != 1 || running[0].name != "hist.1" {
		t.Fatalf("after scale 1: %+v", rows)
	}
	for _, r := range append(slot1[1:], slot2...) {
		if r.desired != "Shutdown" || !strings.HasPrefix(r.state, "Shutdown") {
			t.Fatalf("after scale 1: %+v", rows)
		}
	}

	run("service", "rm", "hist")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		cms := kubeGet(t, kubectl, "default", "configmaps")
		if !hasObject(cms, "swarm-history-hist") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the history outlived its service: %+v", cms)
		}
	}
	if r := dr.Run(ctx, nil, "inspect", old.id); r.Code == 0 {
		t.Errorf("a task of a removed service: %s", r)
	}
}

func hasObject(objs []kubeObject, name string) bool {
	for _, o := range objs {
		if o.Metadata.Name == name {
			return true
		}
	}
	return false
}
