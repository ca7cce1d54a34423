package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster is client-go's fake clientset (its object tracker) with
// what the apiserver adds on writes: UIDs, creation times and a
// generation that moves with each update. It checks the Manager's use of
// the Kubernetes API; the real cluster is exercised by the integration
// test.
func fakeCluster(t *testing.T) *fake.Clientset {
	t.Helper()
	kc := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "berth-1", ResourceVersion: "7",
		Labels: map[string]string{"kubernetes.io/hostname": "berth-1", "node-role.kubernetes.io/control-plane": ""}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	var n atomic.Int64
	kc.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject().(metav1.Object)
		obj.SetUID(types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", n.Add(1))))
		obj.SetCreationTimestamp(metav1.NewTime(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)))
		obj.SetGeneration(1)
		obj.SetResourceVersion("1")
		return false, nil, nil
	})
	kc.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.UpdateAction).GetObject().(metav1.Object)
		cur, err := kc.Tracker().Get(a.GetResource(), a.GetNamespace(), obj.GetName())
		if err == nil {
			cm := cur.(metav1.Object)
			obj.SetUID(cm.GetUID())
			obj.SetCreationTimestamp(cm.GetCreationTimestamp())
			obj.SetGeneration(cm.GetGeneration() + 1)
		}
		return false, nil, nil
	})
	return kc
}

func TestManagerServices(t *testing.T) {
	ctx := context.Background()
	kc := fakeCluster(t)
	m := NewManagerWithClient(Config{VolumeRoot: "/vol"}, kc, "berth-1")

	// A stack's network first, as `stack deploy` sends it.
	nresp, err := m.SwarmNetworkCreate(ctx, network.CreateRequest{Name: "getstartedlab_webnet", Driver: "overlay", Labels: map[string]string{LabelStack: "getstartedlab"}})
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := kc.CoreV1().Namespaces().Get(ctx, "getstartedlab", metav1.GetOptions{}); err != nil || ns.Labels[LabelStack] != "getstartedlab" {
		t.Fatalf("stack namespace: %v %v", ns, err)
	}
	resp, err := m.ServiceCreate(ctx, tutorialWeb(), "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID == "" || len(resp.Warnings) == 0 {
		t.Fatalf("create response %+v", resp)
	}
	if _, err := m.ServiceCreate(ctx, tutorialWeb(), ""); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	d, err := kc.AppsV1().Deployments("getstartedlab").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 5 {
		t.Fatalf("deployment: %v %v", d, err)
	}
	if _, err := kc.CoreV1().Services("getstartedlab").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	list, err := m.ServiceList(ctx, args("label", LabelStack+"=getstartedlab"), true)
	if err != nil || len(list) != 1 || list[0].ID != resp.ID || list[0].ServiceStatus.DesiredTasks != 5 {
		t.Fatalf("list %+v %v", list, err)
	}
	for _, ref := range []string{resp.ID, "getstartedlab_web", resp.ID[:12]} {
		s, err := m.ServiceInspect(ctx, ref, false)
		if err != nil || s.ID != resp.ID || s.Version.Index != 1 {
			t.Fatalf("inspect %s: %+v %v", ref, s, err)
		}
	}
	if _, err := m.ServiceInspect(ctx, "nope", false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("inspect of a missing service: %v", err)
	}

	// Update: 7 replicas and an env change; the version must match.
	spec := tutorialWeb()
	spec.Mode.Replicated.Replicas = u64(7)
	spec.TaskTemplate.ContainerSpec.Env = []string{"NAME=Berth"}
	if _, err := m.ServiceUpdate(ctx, resp.ID, 9, spec, engine.ServiceUpdateOptions{}); err == nil || !strings.Contains(err.Error(), "update out of sequence") {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := m.ServiceUpdate(ctx, resp.ID, 1, spec, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, _ := m.ServiceInspect(ctx, resp.ID, false)
	if s.Version.Index != 2 || *s.Spec.Mode.Replicated.Replicas != 7 || s.PreviousSpec == nil || *s.PreviousSpec.Mode.Replicated.Replicas != 5 || s.UpdateStatus == nil {
		t.Fatalf("after update: %+v", s)
	}
	d, _ = kc.AppsV1().Deployments("getstartedlab").Get(ctx, "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 7 || d.Spec.Template.Spec.Containers[0].Env[0].Value != "Berth" {
		t.Fatalf("deployment after update: %+v", d.Spec)
	}
	// A scale is no update of the tasks: the update's status stays, as
	// in swarm (docker's progress display relies on it).
	scaled := spec
	scaled.Mode.Replicated = &swarm.ReplicatedService{Replicas: u64(6)}
	if _, err := m.ServiceUpdate(ctx, resp.ID, 2, scaled, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if s2, _ := m.ServiceInspect(ctx, resp.ID, false); s2.UpdateStatus == nil || !s2.UpdateStatus.StartedAt.Equal(*s.UpdateStatus.StartedAt) ||
		*s2.PreviousSpec.Mode.Replicated.Replicas != 7 {
		t.Fatalf("after scale: %+v", s2)
	}
	if _, err := m.ServiceUpdate(ctx, resp.ID, 3, spec, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Rollback goes to the previous spec.
	if _, err := m.ServiceUpdate(ctx, resp.ID, 4, swarm.ServiceSpec{}, engine.ServiceUpdateOptions{Rollback: "previous"}); err != nil {
		t.Fatal(err)
	}
	d, _ = kc.AppsV1().Deployments("getstartedlab").Get(ctx, "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 6 { // the spec before the last update: the scaled one
		t.Fatalf("rollback left %d replicas", *d.Spec.Replicas)
	}
	// An invalid spec changes nothing.
	bad := tutorialWeb()
	bad.TaskTemplate.ContainerSpec.User = "nobody"
	if _, err := m.ServiceUpdate(ctx, resp.ID, 5, bad, engine.ServiceUpdateOptions{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("bad update: %v", err)
	}
	bad.Name = "other"
	if _, err := m.ServiceCreate(ctx, bad, ""); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("bad create: %v", err)
	}
	if l, _ := kc.AppsV1().Deployments("").List(ctx, metav1.ListOptions{}); len(l.Items) != 1 {
		t.Fatalf("a refused create left %d deployments", len(l.Items))
	}

	// Tasks: two pods of the current revision, one restarted.
	mkPod := func(name string, restarts int32) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "getstartedlab", Labels: map[string]string{LabelManaged: "true", LabelService: "getstartedlab_web", "pod-template-hash": "h1"}},
			Spec:       corev1.PodSpec{NodeName: "berth-1", Containers: []corev1.Container{{Name: "task", Image: "friendlyhello"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "task", Ready: true, RestartCount: restarts,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
		}
		if restarts > 0 {
			p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
		}
		if _, err := kc.CoreV1().Pods("getstartedlab").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkPod("web-h1-a", 0)
	mkPod("web-h1-b", 1)
	tasks, err := m.TaskList(ctx, args("service", "getstartedlab_web"))
	if err != nil || len(tasks) != 3 {
		t.Fatalf("tasks %d %v", len(tasks), err)
	}
	running := 0
	for _, task := range tasks {
		if task.ServiceID != resp.ID || task.NodeID != "berth-1" {
			t.Errorf("task %+v", task)
		}
		if task.Status.State == swarm.TaskStateRunning && task.DesiredState == swarm.TaskStateRunning {
			running++
		}
	}
	if running != 2 {
		t.Errorf("%d running tasks", running)
	}
	if tl, _ := m.TaskList(ctx, args("desired-state", "running")); len(tl) != 2 {
		t.Errorf("desired-state=running: %d", len(tl))
	}
	if _, err := m.TaskInspect(ctx, tasks[0].ID); err != nil {
		t.Error(err)
	}

	// stack rm: services, then the network; the namespace goes with the last.
	if err := m.SwarmNetworkRemove(ctx, nresp.ID); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("removing a network in use: %v", err)
	}
	if err := m.ServiceRemove(ctx, "getstartedlab_web"); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Get(ctx, "getstartedlab", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace went before its network: %v", err)
	}
	if err := m.SwarmNetworkRemove(ctx, "getstartedlab_webnet"); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Get(ctx, "getstartedlab", metav1.GetOptions{}); err == nil {
		t.Fatal("the stack's namespace is left")
	}
	if l, _ := m.ServiceList(ctx, args(), false); len(l) != 0 {
		t.Fatalf("services left: %d", len(l))
	}
}

func TestManagerSecretsConfigsNodes(t *testing.T) {
	ctx := context.Background()
	kc := fakeCluster(t)
	m := NewManagerWithClient(Config{}, kc, "berth-1")
	id, err := m.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_password"}, Data: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_password"}, Data: []byte("x")}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("duplicate secret: %v", err)
	}
	if _, err := m.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "empty"}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("empty secret: %v", err)
	}
	if _, err := m.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "motd"}, Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	sl, _ := m.SecretList(ctx, args())
	if len(sl) != 1 || sl[0].ID != id || sl[0].Spec.Data != nil {
		t.Fatalf("secrets %+v (data must not be returned)", sl)
	}
	if c, err := m.ConfigInspect(ctx, "motd"); err != nil || string(c.Spec.Data) != "hello" {
		t.Fatalf("config %+v %v", c, err)
	}
	spec := tutorialWeb()
	spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "db_password", File: &swarm.SecretReferenceFileTarget{Name: "db_password", Mode: 0o400}}}
	spec.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigName: "motd", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/motd", Mode: 0o444}}}
	if _, err := m.ServiceCreate(ctx, spec, ""); err != nil {
		t.Fatal(err)
	}
	if s, err := kc.CoreV1().Secrets("getstartedlab").Get(ctx, "swarm-secret-db-password", metav1.GetOptions{}); err != nil || string(s.Data[DataKey]) != "s3cret" {
		t.Fatalf("secret copy in the stack namespace: %v %v", s, err)
	}
	if _, err := kc.CoreV1().ConfigMaps("getstartedlab").Get(ctx, "swarm-config-motd", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.SecretRemove(ctx, "db_password"); err == nil || !strings.Contains(err.Error(), "in use by the following service: getstartedlab_web") {
		t.Fatalf("removing a secret in use: %v", err)
	}
	spec2 := tutorialWeb()
	spec2.Name = "getstartedlab_api"
	spec2.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretName: "missing"}}
	spec2.EndpointSpec = nil
	if _, err := m.ServiceCreate(ctx, spec2, ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("service with a missing secret: %v", err)
	}
	if err := m.ServiceRemove(ctx, "getstartedlab_web"); err != nil {
		t.Fatal(err)
	}
	if err := m.SecretRemove(ctx, "db_password"); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Secrets("getstartedlab").Get(ctx, "swarm-secret-db-password", metav1.GetOptions{}); err == nil {
		t.Fatal("the secret's copy is left")
	}

	// Nodes.
	nodes, err := m.NodeList(ctx, args())
	if err != nil || len(nodes) != 1 || nodes[0].ID != "berth-1" || nodes[0].ManagerStatus == nil {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
	ns := nodes[0].Spec
	ns.Labels = map[string]string{"zone": "a"}
	ns.Availability = swarm.NodeAvailabilityDrain
	if err := m.NodeUpdate(ctx, "self", nodes[0].Version.Index, ns); err != nil {
		t.Fatal(err)
	}
	n, _ := m.NodeInspect(ctx, "berth-1")
	if n.Spec.Availability != swarm.NodeAvailabilityDrain || n.Spec.Labels["zone"] != "a" {
		t.Fatalf("node after update %+v", n.Spec)
	}
	if err := m.NodeRemove(ctx, "berth-1", true); err == nil {
		t.Fatal("removed the manager node")
	}
	if info := m.SwarmInfo(ctx); info.Nodes != 1 || info.Managers != 1 || info.NodeID != "berth-1" {
		t.Fatalf("info %+v", info)
	}
}

// args builds filters from key, value pairs.
func args(kv ...string) filters.Args {
	a := filters.Args{}
	for i := 0; i+1 < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

// TestServiceUpdateConflict: a Deployment write that loses to another
// writer (the controller's status, the update monitor's annotations) is
// tried again while the spec is still the version the client read.
func TestServiceUpdateConflict(t *testing.T) {
	ctx := context.Background()
	kc := fakeCluster(t)
	m := NewManagerWithClient(Config{VolumeRoot: "/vol"}, kc, "berth-1")
	if _, err := m.SwarmNetworkCreate(ctx, network.CreateRequest{Name: "getstartedlab_webnet", Driver: "overlay", Labels: map[string]string{LabelStack: "getstartedlab"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := m.ServiceCreate(ctx, tutorialWeb(), "")
	if err != nil {
		t.Fatal(err)
	}
	var conflicts atomic.Int64
	kc.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts.Add(1) <= 2 {
			return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), "web", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	spec := tutorialWeb()
	spec.Mode.Replicated.Replicas = u64(4)
	if _, err := m.ServiceUpdate(ctx, resp.ID, 1, spec, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatalf("update after two conflicts: %v", err)
	}
	if d, err := kc.AppsV1().Deployments("getstartedlab").Get(ctx, "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("deployment after the update: %v %v", d, err)
	}
	// The update monitor's record of the end of the update bumps the
	// Deployment's generation (annotations do) but not the version.
	d, _ := kc.AppsV1().Deployments("getstartedlab").Get(ctx, "web", metav1.GetOptions{})
	d.Annotations[AnnotationState] = `{"State":"completed"}`
	d.Annotations[AnnotationStatusWrites] = "1"
	if _, err := kc.AppsV1().Deployments("getstartedlab").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if s, err := m.ServiceInspect(ctx, resp.ID, false); err != nil || s.Version.Index != 2 {
		t.Fatalf("version after the monitor's write: %+v %v", s.Version, err)
	}
	spec.Mode.Replicated.Replicas = u64(2)
	if _, err := m.ServiceUpdate(ctx, resp.ID, 2, spec, engine.ServiceUpdateOptions{}); err != nil {
		t.Fatalf("update with the version read after the monitor's write: %v", err)
	}
	if s, _ := m.ServiceInspect(ctx, resp.ID, false); s.Version.Index != 4 {
		t.Errorf("version after the update: %d, want 4 (generation 4, no status writes since)", s.Version.Index)
	}
	// A conflict that never ends is reported, as a conflict.
	conflicts.Store(-100)
	spec.Mode.Replicated.Replicas = u64(3)
	if _, err := m.ServiceUpdate(ctx, resp.ID, 4, spec, engine.ServiceUpdateOptions{}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("update under endless conflicts: %v", err)
	}
}

// TestLeaveManagerMessage: dockerd's refusal of a manager's leave without
// --force, by the managers that would be left (moby's Cluster.Leave).
func TestLeaveManagerMessage(t *testing.T) {
	const head = "You are attempting to leave the swarm on a node that is participating as a manager. "
	const tail = "The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message."
	for _, c := range []struct {
		reachable, unreachable int
		want                   string
	}{
		{1, 0, head + "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. "},
		{2, 0, head + "Removing this node leaves 1 managers out of 2. Without a Raft quorum your swarm will be inaccessible. " + tail},
		{3, 0, head + tail},
		{2, 1, head + "Removing this node leaves 1 managers out of 3. Without a Raft quorum your swarm will be inaccessible. " + tail},
	} {
		if got := leaveManagerMessage(c.reachable, c.unreachable); got != c.want {
			t.Errorf("%d reachable, %d unreachable:\n got %q\nwant %q", c.reachable, c.unreachable, got, c.want)
		}
	}
}
