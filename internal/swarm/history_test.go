package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// TestHistoryRecorder records the pods a rollout and a scale-down delete
// and lists them as tasks, as swarm keeps replaced tasks: per slot, under
// the limit, with the spec they ran, gone with the service.
func TestHistoryRecorder(t *testing.T) {
	ctx := context.Background()
	kc := fakeCluster(t)
	m := NewManagerWithClient(Config{VolumeRoot: "/vol"}, kc, "berth-1")
	if _, err := m.SwarmNetworkCreate(ctx, network.CreateRequest{Name: "getstartedlab_webnet", Driver: "overlay", Labels: map[string]string{LabelStack: "getstartedlab"}}); err != nil {
		t.Fatal(err)
	}
	spec := tutorialWeb()
	spec.Mode.Replicated.Replicas = u64(2)
	resp, err := m.ServiceCreate(ctx, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	spec.TaskTemplate.ContainerSpec.Env = []string{"NAME=Berth"}
	if _, err := m.ServiceUpdate(ctx, resp.ID, 1, spec, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	const ns = "getstartedlab"
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svcLabel := d.Labels[LabelService]
	// Revision aaa (the first spec) is being replaced by bbb.
	for i, h := range []string{"aaa", "bbb"} {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-" + h, Namespace: ns,
			Labels:      map[string]string{LabelService: svcLabel, "pod-template-hash": h},
			Annotations: map[string]string{"deployment.kubernetes.io/revision": []string{"1", "2"}[i]}}}
		if _, err := kc.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	pod := func(name, rev string, created time.Time) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created),
				Labels: map[string]string{LabelManaged: "true", LabelService: svcLabel, "pod-template-hash": rev}},
			Spec: corev1.PodSpec{NodeName: "berth-1", Containers: []corev1.Container{{Name: "task"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "task", ContainerID: "cri://c-" + name,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(created)}}}}},
		}
	}
	deleting := func(p *corev1.Pod) *corev1.Pod {
		p = p.DeepCopy()
		now := metav1.NewTime(t0.Add(time.Minute))
		p.DeletionTimestamp = &now
		return p
	}
	stopped := func(p *corev1.Pod, at time.Time) *corev1.Pod {
		p = deleting(p)
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 137, ContainerID: "cri://c-" + p.Name, FinishedAt: metav1.NewTime(at)}}
		return p
	}
	a1, a2 := pod("web-aaa-1", "aaa", t0), pod("web-aaa-2", "aaa", t0.Add(time.Second))
	b1, b2 := pod("web-bbb-1", "bbb", t0.Add(time.Minute)), pod("web-bbb-2", "bbb", t0.Add(time.Minute+time.Second))
	for _, p := range []**corev1.Pod{&b1, &b2} {
		// The fake apiserver gives the pods their UIDs.
		if *p, err = kc.CoreV1().Pods(ns).Create(ctx, *p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHistoryRecorder(m, nil)
	h.now = func() time.Time { return t0.Add(2 * time.Minute) }
	store := func(ps ...*corev1.Pod) cache.Store {
		s := cache.NewStore(cache.MetaNamespaceKeyFunc)
		for _, p := range ps {
			s.Add(p)
		}
		return s
	}
	record := func(s cache.Store, p *corev1.Pod, gone bool) {
		t.Helper()
		if err := h.record(ctx, kc, s, podEvent{pod: p, gone: gone}); err != nil {
			t.Fatal(err)
		}
	}
	// a1 is deleted first, then a2: a2 is then the only pod of its
	// revision, but keeps its own slot.
	record(store(deleting(a1), a2, b1, b2), deleting(a1), false)
	record(store(a2, b1, b2), stopped(a1, t0.Add(70*time.Second)), true)
	record(store(b1, b2), stopped(a2, t0.Add(75*time.Second)), true)

	tasks, err := m.TaskList(ctx, args("service", resp.ID))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]swarm.Task{}
	for _, tk := range tasks {
		got[tk.ID] = tk
	}
	if len(tasks) != 4 {
		t.Fatalf("want 2 running and 2 recorded tasks, got %+v", tasks)
	}
	for i, p := range []*corev1.Pod{a1, a2} {
		tk, ok := got[ID(p.UID)]
		if !ok || tk.Slot != i+1 || tk.DesiredState != swarm.TaskStateShutdown || tk.Status.State != swarm.TaskStateShutdown ||
			tk.ServiceID != resp.ID || tk.NodeID != "berth-1" || tk.Spec.ContainerSpec == nil || tk.Spec.ContainerSpec.Env[0] != "NAME=World" ||
			tk.Status.ContainerStatus == nil || tk.Status.ContainerStatus.ExitCode != 137 {
			t.Fatalf("recorded task of %s: %+v", p.Name, tk)
		}
	}
	if want := t0.Add(70 * time.Second); !got[ID(a1.UID)].Status.Timestamp.Equal(want) {
		t.Fatalf("a1's end: %v", got[ID(a1.UID)].Status.Timestamp)
	}
	if tk := got[ID(b1.UID)]; tk.DesiredState != swarm.TaskStateRunning || tk.Spec.ContainerSpec.Env[0] != "NAME=Berth" {
		t.Fatalf("running task: %+v", tk)
	}
	if l, err := m.TaskList(ctx, args("service", resp.ID, "desired-state", "running")); err != nil || len(l) != 2 {
		t.Fatalf("desired-state=running: %+v %v", l, err)
	}
	if l, err := m.TaskList(ctx, args("name", "getstartedlab_web.2")); err != nil || len(l) != 2 {
		t.Fatalf("name=getstartedlab_web.2: %+v %v", l, err)
	}
	if tk, err := m.TaskInspect(ctx, ID(a2.UID)[:10]); err != nil || tk.Slot != 2 {
		t.Fatalf("inspect of a recorded task: %+v %v", tk, err)
	}

	// The limit counts the slot's current task: 2 keeps one recorded.
	// (SwarmInspect also needs the join tokens, which the fake cluster
	// cannot make: the limit is read as inspect reads it.)
	if n := m.taskHistoryLimit(ctx, kc); n != DefaultTaskHistory {
		t.Fatalf("default limit %d", n)
	}
	var sp swarm.Spec
	sp.Orchestration.TaskHistoryRetentionLimit = ptr(int64(2))
	if err := m.SwarmUpdate(ctx, 1, sp, engine.SwarmUpdateFlags{}); err != nil {
		t.Fatal(err)
	}
	if n := m.taskHistoryLimit(ctx, kc); n != 2 {
		t.Fatalf("limit after update: %d", n)
	}
	a0 := pod("web-zzz-1", "zzz", t0.Add(-time.Hour)) // an older revision
	record(store(b1, b2), stopped(a0, t0.Add(-time.Minute)), true)
	if l, _ := m.TaskList(ctx, args("service", resp.ID)); len(l) != 4 {
		t.Fatalf("the older task is not kept under the limit: %+v", l)
	}

	// Scale to 1: b2 is scaled away (desired remove) while it stops, and
	// forgotten once gone; the slot's older task stays, as in swarm.
	d, _ = kc.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	d.Spec.Replicas = ptr(int32(1))
	if _, err := kc.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Pods(ns).Update(ctx, deleting(b2), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	record(store(b1, deleting(b2)), deleting(b2), false)
	if tk, err := m.TaskInspect(ctx, ID(b2.UID)); err != nil || tk.DesiredState != swarm.TaskStateRemove {
		t.Fatalf("a task being scaled away: %+v %v", tk, err)
	}
	if err := kc.CoreV1().Pods(ns).Delete(ctx, b2.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	record(store(b1), stopped(b2, t0.Add(3*time.Minute)), true)
	l, _ := m.TaskList(ctx, args("service", resp.ID))
	if len(l) != 3 {
		t.Fatalf("after the scale-down: %+v", l)
	}
	if _, err := m.TaskInspect(ctx, ID(a2.UID)); err != nil {
		t.Fatalf("slot 2's history after the scale-down: %v", err)
	}

	// service rm takes the history with it, and a late event of the
	// removed service records nothing.
	if err := m.ServiceRemove(ctx, resp.ID); err != nil {
		t.Fatal(err)
	}
	record(store(), stopped(b1, t0.Add(4*time.Minute)), true)
	if _, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, HistoryObjectName("web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("history after service rm: %v", err)
	}
}

// TestHistoryDocTrim keeps the newest tasks of each slot under the limit
// and drops specs no task uses.
func TestHistoryDocTrim(t *testing.T) {
	d := historyDoc{Specs: map[string]swarm.TaskSpec{"a": {}, "b": {}}}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var in []recordedTask
	for i := 0; i < 6; i++ {
		for slot := 1; slot <= 2; slot++ {
			tk := swarm.Task{ID: string(rune('a'+i)) + string(rune('0'+slot)), Slot: slot, DesiredState: swarm.TaskStateShutdown}
			tk.Meta.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			in = append(in, recordedTask{Task: tk, Spec: "b", Pod: tk.ID, Rev: tk.ID})
		}
	}
	d.add(in, true, 5)
	if len(d.Tasks) != 8 || d.Tasks[0].Task.ID[0] != 'f' || len(d.Specs) != 1 {
		t.Fatalf("trimmed to %+v", d)
	}
	d.add(nil, false, -1)
	if len(d.Tasks) != 8 {
		t.Fatalf("a negative limit keeps all: %d", len(d.Tasks))
	}
	d.add(nil, false, 0)
	if len(d.Tasks) != 0 {
		t.Fatalf("limit 0 keeps none: %d", len(d.Tasks))
	}
}

// TestHistoryDocSlots: a record of a revision takes a slot none of the
// revision's pods that existed with it holds; pods of the revision from
// before a rollback do not count.
func TestHistoryDocSlots(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rec := func(id string, slot int, created, recorded time.Time) recordedTask {
		tk := swarm.Task{ID: id, Slot: slot, DesiredState: swarm.TaskStateShutdown}
		tk.Meta.CreatedAt, tk.Meta.UpdatedAt = created, recorded
		return recordedTask{Task: tk, Pod: id, Rev: "r"}
	}
	d := historyDoc{Specs: map[string]swarm.TaskSpec{}}
	d.add([]recordedTask{rec("p1", 1, t0, t0.Add(time.Minute))}, true, 5)
	// p2 ran beside p1 and is counted into slot 1 once p1 is gone.
	d.add([]recordedTask{rec("p2", 1, t0.Add(time.Second), t0.Add(2*time.Minute))}, true, 5)
	// p3 is of the same revision after a rollback, made after p1 and p2 went.
	d.add([]recordedTask{rec("p3", 1, t0.Add(time.Hour), t0.Add(2*time.Hour))}, true, 5)
	slots := map[string]int{}
	for _, r := range d.Tasks {
		slots[r.Task.ID] = r.Task.Slot
	}
	if slots["p1"] != 1 || slots["p2"] != 2 || slots["p3"] != 1 {
		t.Fatalf("slots %v", slots)
	}
}
