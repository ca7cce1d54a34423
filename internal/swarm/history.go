package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/swarm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Task history. Swarm keeps a service's replaced tasks (up to the swarm's
// TaskHistoryRetentionLimit per slot, counting the slot's current task),
// so `service ps` lists them under the task that replaced them. A task
// here is a pod, and the Deployment controller deletes the pods of an old
// revision as its rollout goes; the HistoryRecorder watches the services'
// pods and, when one is being deleted and once it is gone, records its
// final tasks (the pod's, and the run before its last restart) in a
// ConfigMap of the service's namespace, owned by the workload so it goes
// with the service. Every manager reads the same record, and it outlives
// the front end's restarts. What the recorder cannot see is lost: a pod
// created and deleted while no front end runs, and the final state of one
// deleted meanwhile (its record keeps what the recorder saw last).

// historyKind is the LabelKind of the history ConfigMaps.
const historyKind = "history"

// DefaultTaskHistory is swarm's default TaskHistoryRetentionLimit.
const DefaultTaskHistory = 5

// HistoryObjectName is the name of the ConfigMap that holds the task
// history of the service whose workload is named name.
func HistoryObjectName(name string) string { return "swarm-history-" + name }

// recordedTask is one task of a deleted pod.
type recordedTask struct {
	Task swarm.Task `json:"task"` // without its Spec
	Spec string     `json:"spec"` // key of the task's spec in historyDoc.Specs
	Pod  string     `json:"pod"`  // the pod's UID
	Rev  string     `json:"rev"`  // the pod's revision (pod-template-hash)
}

// historyDoc is what a history ConfigMap holds: the tasks, and each spec
// they ran once (a service's tasks mostly share a few).
type historyDoc struct {
	Tasks []recordedTask
	Specs map[string]swarm.TaskSpec
}

const (
	historyTasksKey = "tasks"
	historySpecsKey = "specs"
)

func decodeHistory(cm *corev1.ConfigMap) historyDoc {
	d := historyDoc{Specs: map[string]swarm.TaskSpec{}}
	if cm == nil {
		return d
	}
	json.Unmarshal([]byte(cm.Data[historyTasksKey]), &d.Tasks)
	json.Unmarshal([]byte(cm.Data[historySpecsKey]), &d.Specs)
	if d.Specs == nil {
		d.Specs = map[string]swarm.TaskSpec{}
	}
	return d
}

func (d historyDoc) encode() map[string]string {
	t, _ := json.Marshal(d.Tasks)
	s, _ := json.Marshal(d.Specs)
	return map[string]string{historyTasksKey: string(t), historySpecsKey: string(s)}
}

// tasks are the recorded tasks with their specs.
func (d historyDoc) tasks() []swarm.Task {
	out := make([]swarm.Task, 0, len(d.Tasks))
	for _, r := range d.Tasks {
		t := r.Task
		t.Spec = d.Specs[r.Spec]
		out = append(out, t)
	}
	return out
}

func specKey(s swarm.TaskSpec) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// slotKey groups a service's tasks as swarm's history limit counts them:
// by slot, or for a global service by node.
func slotKey(t swarm.Task) string {
	if t.Slot > 0 {
		return strconv.Itoa(t.Slot)
	}
	return "node/" + t.NodeID
}

// add records tasks (replacing earlier records of the same IDs, whose
// slot and desired state stay as first recorded) and keeps at most
// limit-1 recorded tasks per slot, the newest: the slot's current task is
// the limit's last one, as in swarm (a negative limit keeps all, up to
// maxHistory). A new record of a revision whose tasks were recorded
// before, while its pod existed, takes a slot none of them holds (slots
// are counted per revision among the pods that exist, so a pod deleted
// after another of its revision would otherwise take its slot). A scaled-away task (desired
// state remove) is kept only while its pod exists: swarm deletes such a
// task once it is down, and keeps its slot's older tasks.
func (d *historyDoc) add(tasks []recordedTask, gone bool, limit int64) {
	for _, r := range tasks {
		i := slices.IndexFunc(d.Tasks, func(o recordedTask) bool { return o.Task.ID == r.Task.ID })
		if i >= 0 {
			r.Task.Slot, r.Task.DesiredState = d.Tasks[i].Task.Slot, d.Tasks[i].Task.DesiredState
			d.Tasks[i] = r
		} else {
			if r.Task.Slot > 0 {
				taken := map[int]bool{}
				for _, o := range d.Tasks {
					// Another pod of the revision that still existed when
					// this one was made (a Deployment rolled back reuses
					// an old revision: its earlier pods do not count).
					if o.Rev == r.Rev && o.Pod != r.Pod && !o.Task.Meta.UpdatedAt.Before(r.Task.Meta.CreatedAt) {
						taken[o.Task.Slot] = true
					}
				}
				for taken[r.Task.Slot] {
					r.Task.Slot++
				}
			}
			d.Tasks = append(d.Tasks, r)
		}
		if gone {
			d.Tasks = slices.DeleteFunc(d.Tasks, func(o recordedTask) bool {
				return o.Pod == r.Pod && o.Task.DesiredState == swarm.TaskStateRemove
			})
		}
	}
	keep := limit - 1
	if limit < 0 || keep > maxHistory {
		keep = maxHistory
	}
	if keep < 0 {
		keep = 0
	}
	// Newest first, then at most keep per slot.
	slices.SortStableFunc(d.Tasks, func(a, b recordedTask) int {
		return b.Task.Meta.CreatedAt.Compare(a.Task.Meta.CreatedAt)
	})
	count := map[string]int64{}
	kept := d.Tasks[:0]
	for _, r := range d.Tasks {
		k := slotKey(r.Task)
		if r.Task.DesiredState == swarm.TaskStateRemove {
			kept = append(kept, r)
			continue
		}
		if count[k] < keep {
			count[k]++
			kept = append(kept, r)
		}
	}
	d.Tasks = kept
	used := map[string]bool{}
	for _, r := range d.Tasks {
		used[r.Spec] = true
	}
	for k := range d.Specs {
		if !used[k] {
			delete(d.Specs, k)
		}
	}
}

// maxHistory bounds the recorded tasks per slot whatever the limit says:
// a ConfigMap holds at most 1 MiB.
const maxHistory = 100

// podRevision is the revision a pod belongs to.
func podRevision(p *corev1.Pod) string {
	if r := p.Labels["pod-template-hash"]; r != "" {
		return r
	}
	return p.Labels["controller-revision-hash"]
}

// revisionSpec is the task spec a pod of revision rev ran: the service's
// current one for its current revision, else the spec before the last
// update (a replaced pod mostly ran that one).
func revisionSpec(w Workload, rev, current string) swarm.TaskSpec {
	spec, _ := w.Spec()
	if rev == current || current == "" {
		return spec.TaskTemplate
	}
	var prev swarm.ServiceSpec
	if raw := w.Meta().Annotations[AnnotationPrev]; raw != "" && json.Unmarshal([]byte(raw), &prev) == nil {
		return prev.TaskTemplate
	}
	return spec.TaskTemplate
}

// disrupted reports whether Kubernetes deleted the pod for its node (a
// drain's taint, a lost node, an eviction) rather than its controller.
func disrupted(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// finalTasks are the tasks to record for pod p of workload w, slot given;
// gone says the pod no longer exists. A pod scaled away gets desired
// state remove, as swarm marks the tasks a scale-down ends; any other
// shutdown.
func finalTasks(w Workload, p *corev1.Pod, slot int, current string, scaledAway, gone bool, now time.Time) []recordedTask {
	spec, _ := w.Spec()
	rev := podRevision(p)
	ts := revisionSpec(w, rev, current)
	key := specKey(ts)
	var out []recordedTask
	for _, t := range TasksFromPod(PodTask{Pod: p, Slot: slot}, ID(w.Meta().UID), ts, false) {
		t.Annotations.Labels = copyMap(spec.Labels)
		t.Spec = swarm.TaskSpec{}
		if t.ID == ID(p.UID) {
			t.DesiredState = swarm.TaskStateShutdown
			if scaledAway {
				t.DesiredState = swarm.TaskStateRemove
			}
			if gone {
				switch t.Status.State {
				case swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateComplete, swarm.TaskStateShutdown:
				default:
					// Gone before it was seen to stop (a lost node, a
					// forced delete): it is down now.
					t.Status.State, t.Status.Message, t.Status.Timestamp = swarm.TaskStateShutdown, "shutdown", now.UTC()
				}
			}
		}
		t.Meta.UpdatedAt = now.UTC()
		out = append(out, recordedTask{Task: t, Spec: key, Pod: string(p.UID), Rev: rev})
	}
	return out
}

// ---- the recorder

// HistoryRecorder records the final tasks of the services' deleted pods
// (see the top of this file). It runs in every manager's front end; the
// records are written with Kubernetes' optimistic concurrency, so two
// managers recording the same pod agree.
type HistoryRecorder struct {
	m     *Manager
	log   *slog.Logger
	every time.Duration
	now   func() time.Time
}

// NewHistoryRecorder records the task history of m's services.
func NewHistoryRecorder(m *Manager, log *slog.Logger) *HistoryRecorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HistoryRecorder{m: m, log: log, every: 2 * time.Second, now: time.Now}
}

// podEvent is a pod to record: being deleted, or gone.
type podEvent struct {
	pod  *corev1.Pod
	gone bool
}

// Run records until ctx ends. It watches the pods of the cluster the
// swarm is on, while this node is a manager of an active swarm, and
// starts again on another cluster after a leave and an init.
func (h *HistoryRecorder) Run(ctx context.Context) {
	var cur kubernetes.Interface
	stop := func() {}
	defer func() { stop() }()
	for {
		var kc kubernetes.Interface
		if i := h.m.SwarmInfo(ctx); i.LocalNodeState == swarm.LocalNodeStateActive && i.ControlAvailable {
			kc, _ = h.m.client()
		}
		if kc != cur {
			stop()
			stop, cur = func() {}, kc
			if kc != nil {
				wctx, cancel := context.WithCancel(ctx)
				stop = cancel
				go h.watch(wctx, kc)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.every):
		}
	}
}

// watch runs an informer on the swarm's pods and records each pod that
// is being deleted or is gone, one at a time.
func (h *HistoryRecorder) watch(ctx context.Context, kc kubernetes.Interface) {
	sel := LabelManaged + "=true," + LabelService
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return kc.CoreV1().Pods("").List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return kc.CoreV1().Pods("").Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	events := make(chan podEvent, 1024)
	send := func(p *corev1.Pod, gone bool) {
		select {
		case events <- podEvent{pod: p, gone: gone}:
		case <-ctx.Done():
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
				send(p, false)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
				send(p, false)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				send(p, true)
			}
		},
	})
	go inf.RunWithContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if err := h.record(ctx, kc, inf.GetStore(), ev); err != nil && ctx.Err() == nil {
				h.log.Warn("task history: recording a task", "pod", ev.pod.Namespace+"/"+ev.pod.Name, "err", err)
			}
		}
	}
}

// record writes the final tasks of the pod ev names into its service's
// history, unless the service is gone (its history goes with it).
func (h *HistoryRecorder) record(ctx context.Context, kc kubernetes.Interface, store cache.Store, ev podEvent) error {
	p := ev.pod
	w, err := serviceWorkload(ctx, kc, p.Namespace, p.Labels[LabelService])
	if err != nil || w == nil {
		return err
	}
	// The pod's slot among the service's pods, as the listing numbers it.
	var pods []*corev1.Pod
	for _, o := range store.List() {
		if q, ok := o.(*corev1.Pod); ok && q.Namespace == p.Namespace && q.Labels[LabelService] == p.Labels[LabelService] && q.UID != p.UID {
			pods = append(pods, q)
		}
	}
	pods = append(pods, p)
	slot := 0
	for _, pt := range AssignSlots(pods, w.DaemonSet != nil) {
		if pt.Pod.UID == p.UID {
			slot = pt.Slot
		}
	}
	current := h.m.currentRevision(ctx, kc, *w)
	tasks := finalTasks(*w, p, slot, current, scaledAway(*w, p, pods, current), ev.gone, h.now())
	limit := h.m.taskHistoryLimit(ctx, kc)
	return writeHistory(ctx, kc, *w, func(d *historyDoc) bool {
		before, _ := json.Marshal(d.Tasks)
		for i := range tasks {
			// The spec is stored once per history.
			d.Specs[tasks[i].Spec] = revisionSpec(*w, tasks[i].Rev, current)
		}
		d.add(tasks, ev.gone, limit)
		after, _ := json.Marshal(d.Tasks)
		return string(before) != string(after)
	})
}

// scaledAway reports whether the Deployment deleted pod p to have fewer
// replicas: p runs the current revision, Kubernetes did not take it away
// from its node (drain, eviction, lost node), and without it the
// revision still has as many pods as the Deployment wants (a pod deleted
// otherwise is replaced; its replacement may already count, so the
// decision made while the pod is being deleted is the one kept).
func scaledAway(w Workload, p *corev1.Pod, pods []*corev1.Pod, current string) bool {
	d := w.Deployment
	if d == nil || current == "" || podRevision(p) != current || disrupted(p) {
		return false
	}
	want := 1
	if d.Spec.Replicas != nil {
		want = int(*d.Spec.Replicas)
	}
	live := 0
	for _, q := range pods {
		if q.UID != p.UID && q.DeletionTimestamp == nil && podRevision(q) == current {
			live++
		}
	}
	return live >= want
}

// serviceWorkload is the live workload of service name in ns (nil when it
// is gone or being deleted).
func serviceWorkload(ctx context.Context, kc kubernetes.Interface, ns, name string) (*Workload, error) {
	sel := metav1.ListOptions{LabelSelector: LabelManaged + "=true," + LabelService + "=" + name}
	ds, err := kc.AppsV1().Deployments(ns).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	for i := range ds.Items {
		if ds.Items[i].DeletionTimestamp == nil {
			return &Workload{Deployment: &ds.Items[i]}, nil
		}
	}
	dss, err := kc.AppsV1().DaemonSets(ns).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	for i := range dss.Items {
		if dss.Items[i].DeletionTimestamp == nil {
			return &Workload{DaemonSet: &dss.Items[i]}, nil
		}
	}
	return nil, nil
}

// writeHistory applies change to the history of workload w and writes it
// when change reports a difference, again on a write conflict.
func writeHistory(ctx context.Context, kc kubernetes.Interface, w Workload, change func(*historyDoc) bool) error {
	meta := w.Meta()
	cms := kc.CoreV1().ConfigMaps(meta.Namespace)
	name := HistoryObjectName(meta.Name)
	for try := 0; ; try++ {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm, err = nil, nil
		}
		if err != nil {
			return err
		}
		d := decodeHistory(cm)
		if !change(&d) {
			return nil
		}
		if cm == nil {
			cm = &corev1.ConfigMap{ObjectMeta: historyMeta(w)}
			cm.Data = d.encode()
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		} else {
			cm.Data = d.encode()
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		if err == nil || try >= 5 || !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			return err
		}
	}
}

// historyMeta is a history ConfigMap's metadata: labelled for its service
// and owned by its workload, so Kubernetes deletes it with the service.
func historyMeta(w Workload) metav1.ObjectMeta {
	meta := w.Meta()
	kind := "Deployment"
	if w.DaemonSet != nil {
		kind = "DaemonSet"
	}
	labels := map[string]string{LabelManaged: "true", LabelKind: historyKind, LabelService: meta.Labels[LabelService]}
	if st := meta.Labels[LabelStack]; st != "" {
		labels[LabelStack] = st
	}
	return metav1.ObjectMeta{
		Name: HistoryObjectName(meta.Name), Namespace: meta.Namespace, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: appsv1.SchemeGroupVersion.String(), Kind: kind, Name: meta.Name, UID: meta.UID,
		}},
	}
}

// historyTasks are the recorded tasks of the services in all (each under
// its service's ID), less those have holds (pods that still
// exist are listed from the pods: desired holds the desired state
// recorded for them) and the scaled-away ones (swarm deletes them once
// they are down).
func (m *Manager) historyTasks(ctx context.Context, kc kubernetes.Interface, all []service, have map[string]*corev1.Pod) (out []swarm.Task, desired map[string]swarm.TaskState, err error) {
	cms, err := kc.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{LabelSelector: LabelKind + "=" + historyKind})
	if err != nil {
		return nil, nil, kubeErr(err)
	}
	owners := map[string]bool{}
	for _, s := range all {
		owners[string(s.w.Meta().UID)] = true
	}
	desired = map[string]swarm.TaskState{}
	for i := range cms.Items {
		cm := &cms.Items[i]
		owned := false
		for _, o := range cm.OwnerReferences {
			owned = owned || owners[string(o.UID)]
		}
		if !owned {
			continue // its service is being removed
		}
		for _, t := range decodeHistory(cm).tasks() {
			switch {
			case have[t.ID] != nil:
				desired[t.ID] = t.DesiredState
			case t.DesiredState != swarm.TaskStateRemove:
				out = append(out, t)
			}
		}
	}
	return out, desired, nil
}

// serviceNames maps service IDs to names when f filters tasks by name.
func (m *Manager) serviceNames(ctx context.Context, kc kubernetes.Interface, f filters.Args) (map[string]string, error) {
	if !f.Contains("name") {
		return nil, nil
	}
	all, err := m.services(ctx, kc)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range all {
		out[ID(s.w.Meta().UID)] = s.spec().Name
	}
	return out, nil
}

// taskName is the name swarm gives a task, which its name filter matches
// by prefix: SERVICE.SLOT.ID, or SERVICE.NODE.ID for a global service's.
func taskName(service string, t swarm.Task) string {
	if t.Name != "" {
		return t.Name
	}
	if t.Slot > 0 {
		return fmt.Sprintf("%s.%d.%s", service, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", service, t.NodeID, t.ID)
}

// removeHistory deletes the task history of workload w (service rm:
// Kubernetes would collect it with the workload, but later).
func removeHistory(ctx context.Context, kc kubernetes.Interface, w Workload) error {
	meta := w.Meta()
	err := kc.CoreV1().ConfigMaps(meta.Namespace).Delete(ctx, HistoryObjectName(meta.Name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("task history: %w", err)
	}
	return nil
}

// ---- the history limit

// swarmSpecObject is the ConfigMap in the system namespace that keeps the
// parts of the swarm's spec Berth carries out (`docker swarm update`):
// the task history limit, in the cluster so every manager reads it.
const swarmSpecObject = "swarm-spec"

const orchestrationKey = "orchestration"

// taskHistoryLimit is the swarm's TaskHistoryRetentionLimit.
func (m *Manager) taskHistoryLimit(ctx context.Context, kc kubernetes.Interface) int64 {
	cm, err := kc.CoreV1().ConfigMaps(SystemNamespace).Get(ctx, swarmSpecObject, metav1.GetOptions{})
	if err != nil {
		return DefaultTaskHistory
	}
	var o swarm.OrchestrationConfig
	if json.Unmarshal([]byte(cm.Data[orchestrationKey]), &o) != nil || o.TaskHistoryRetentionLimit == nil {
		return DefaultTaskHistory
	}
	return *o.TaskHistoryRetentionLimit
}

// setTaskHistoryLimit records a new TaskHistoryRetentionLimit; the
// recorder trims each service's history to it as it records.
func (m *Manager) setTaskHistoryLimit(ctx context.Context, kc kubernetes.Interface, n int64) error {
	b, _ := json.Marshal(swarm.OrchestrationConfig{TaskHistoryRetentionLimit: &n})
	cms := kc.CoreV1().ConfigMaps(SystemNamespace)
	for try := 0; ; try++ {
		cm, err := cms.Get(ctx, swarmSpecObject, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := m.ensureNamespace(ctx, kc, SystemNamespace, nil); err != nil {
				return kubeErr(err)
			}
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: swarmSpecObject,
				Labels: map[string]string{LabelManaged: "true", LabelKind: swarmSpecObject}},
				Data: map[string]string{orchestrationKey: string(b)}}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		case err == nil:
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[orchestrationKey] = string(b)
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		if err == nil {
			// docker info shows it at once.
			m.mu.Lock()
			m.historyLimit = n
			m.mu.Unlock()
		}
		if err == nil || try >= 5 || !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			return kubeErr(err)
		}
	}
}
