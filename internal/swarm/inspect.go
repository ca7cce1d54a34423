package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ID turns a Kubernetes UID into a swarm-style ID (hex, no dashes), which
// the docker CLI truncates to 12 characters like swarm's.
func ID(uid types.UID) string { return strings.ReplaceAll(string(uid), "-", "") }

// Workload is a service's Deployment or DaemonSet, whichever it has.
type Workload struct {
	Deployment *appsv1.Deployment
	DaemonSet  *appsv1.DaemonSet
}

// Meta returns the workload's object metadata.
func (w Workload) Meta() *metav1.ObjectMeta {
	if w.Deployment != nil {
		return &w.Deployment.ObjectMeta
	}
	return &w.DaemonSet.ObjectMeta
}

// Spec decodes the swarm spec the service was created or updated with.
func (w Workload) Spec() (swarm.ServiceSpec, error) {
	var spec swarm.ServiceSpec
	raw := w.Meta().Annotations[AnnotationSpec]
	if raw == "" {
		return spec, fmt.Errorf("%s/%s carries no swarm spec", w.Meta().Namespace, w.Meta().Name)
	}
	err := json.Unmarshal([]byte(raw), &spec)
	return spec, err
}

// Version is a service's swarm version: its workload's generation, less
// the update monitor's status writes since the spec was last written
// (Kubernetes bumps a Deployment's generation for annotations too), so it
// moves with the spec only, as swarm's does.
func Version(m *metav1.ObjectMeta) uint64 {
	n, _ := strconv.ParseInt(m.Annotations[AnnotationStatusWrites], 10, 64)
	return uint64(m.Generation - n)
}

// ServiceFromKube is the inspect view of a service: the spec as the client
// gave it, its version (the workload's generation, which moves only when
// the spec does), the endpoint with the Service's virtual IP, and the
// rollout as swarm's update status.
func ServiceFromKube(w Workload, svc *corev1.Service, networkIDs map[string]string) (swarm.Service, error) {
	m := w.Meta()
	spec, err := w.Spec()
	if err != nil {
		return swarm.Service{}, err
	}
	s := swarm.Service{
		ID: ID(m.UID),
		Meta: swarm.Meta{
			Version:   swarm.Version{Index: Version(m)},
			CreatedAt: m.CreationTimestamp.UTC(),
			UpdatedAt: m.CreationTimestamp.UTC(),
		},
		Spec: spec,
	}
	if raw := m.Annotations[AnnotationPrev]; raw != "" {
		var prev swarm.ServiceSpec
		if json.Unmarshal([]byte(raw), &prev) == nil {
			s.PreviousSpec = &prev
		}
	}
	if raw := m.Annotations[AnnotationState]; raw != "" {
		var us swarm.UpdateStatus
		if json.Unmarshal([]byte(raw), &us) == nil {
			if us.StartedAt != nil {
				s.UpdatedAt = us.StartedAt.UTC()
			}
			s.UpdateStatus = &us
			if w.Deployment != nil {
				rolloutState(s.UpdateStatus, w.Deployment, spec)
			}
		}
	}
	if spec.EndpointSpec != nil {
		s.Endpoint.Spec = *spec.EndpointSpec
		s.Endpoint.Ports = append([]swarm.PortConfig(nil), spec.EndpointSpec.Ports...)
		for i := range s.Endpoint.Ports {
			if s.Endpoint.Ports[i].PublishMode == "" {
				s.Endpoint.Ports[i].PublishMode = swarm.PortConfigPublishModeIngress
			}
			if s.Endpoint.Ports[i].Protocol == "" {
				s.Endpoint.Ports[i].Protocol = "tcp"
			}
		}
		if s.Endpoint.Spec.Mode == "" {
			s.Endpoint.Spec.Mode = swarm.ResolutionModeVIP
		}
	}
	if svc != nil && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			for _, n := range spec.TaskTemplate.Networks {
				id := n.Target
				if v, ok := networkIDs[n.Target]; ok {
					id = v
				}
				s.Endpoint.VirtualIPs = append(s.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: id, Addr: netip.PrefixFrom(a, a.BitLen())})
			}
			if len(s.Endpoint.VirtualIPs) == 0 {
				s.Endpoint.VirtualIPs = []swarm.EndpointVirtualIP{{NetworkID: "ingress", Addr: netip.PrefixFrom(a, a.BitLen())}}
			}
		}
	}
	return s, nil
}

// rolloutState follows a Deployment's rollout in the update status the
// front end recorded when it started the update. A timed-out update whose
// failure action is rollback stays "updating" until the front end's
// monitor has started the rollback (a moment later).
func rolloutState(us *swarm.UpdateStatus, d *appsv1.Deployment, spec swarm.ServiceSpec) {
	if us.State != swarm.UpdateStateUpdating && us.State != swarm.UpdateStateRollbackStarted {
		return
	}
	if c := rolloutTimedOut(d, us); c != nil {
		if us.State == swarm.UpdateStateUpdating {
			if failureAction(spec) == swarm.UpdateFailureActionRollback {
				return
			}
			us.State = swarm.UpdateStatePaused
		} else {
			us.State = swarm.UpdateStateRollbackPaused
		}
		us.Message = "update paused due to failure or early termination of task: " + c.Message
		return
	}
	if RolloutSettled(d, spec, us.State, time.Now()) {
		t := time.Now().UTC()
		if us.State == swarm.UpdateStateUpdating {
			us.State, us.Message = swarm.UpdateStateCompleted, "update completed"
		} else {
			us.State, us.Message = swarm.UpdateStateRollbackCompleted, "rollback completed"
		}
		us.CompletedAt = &t
	}
}

// rolloutTimedOut returns the Deployment's "progress deadline exceeded"
// condition when it belongs to the update us records. The condition stays
// on the Deployment until its next rollout makes progress, so one set
// before the update started (at the whole second Kubernetes keeps) is the
// previous rollout's.
func rolloutTimedOut(d *appsv1.Deployment, us *swarm.UpdateStatus) *appsv1.DeploymentCondition {
	for i, c := range d.Status.Conditions {
		if c.Type != appsv1.DeploymentProgressing || c.Reason != "ProgressDeadlineExceeded" {
			continue
		}
		if us.StartedAt != nil && !c.LastUpdateTime.IsZero() && !c.LastUpdateTime.Time.After(us.StartedAt.Truncate(time.Second)) {
			return nil
		}
		return &d.Status.Conditions[i]
	}
	return nil
}

// failureAction is the spec's update failure action (swarm's default is
// pause).
func failureAction(spec swarm.ServiceSpec) swarm.FailureAction {
	if spec.UpdateConfig != nil && spec.UpdateConfig.FailureAction != "" {
		return spec.UpdateConfig.FailureAction
	}
	return swarm.UpdateFailureActionPause
}

// RolloutSettled reports whether the rollout of an update (or a rollback,
// by state) is done and has stayed so for the update's monitor period, as
// swarm reports an update completed only once its last task has been
// watched that long. The rollout's end is the time of the Deployment's
// NewReplicaSetAvailable condition.
func RolloutSettled(d *appsv1.Deployment, spec swarm.ServiceSpec, state swarm.UpdateState, now time.Time) bool {
	if !RolloutDone(d) {
		return false
	}
	monitor := defaultMonitor
	uc := spec.UpdateConfig
	if state == swarm.UpdateStateRollbackStarted {
		uc = spec.RollbackConfig
	}
	if uc != nil && uc.Monitor > 0 {
		monitor = uc.Monitor
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "NewReplicaSetAvailable" && !c.LastUpdateTime.IsZero() {
			// Kubernetes keeps whole seconds: the end was up to one later.
			return now.Sub(c.LastUpdateTime.Time) >= monitor+time.Second
		}
	}
	return true
}

// defaultMonitor is swarm's update and rollback monitor period.
const defaultMonitor = 5 * time.Second

// RolloutDone reports whether a Deployment runs its current spec on every
// replica, as `kubectl rollout status` decides.
func RolloutDone(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
}

// Replicas is a service's desired task count and how many run.
func ServiceStatus(w Workload) swarm.ServiceStatus {
	if w.Deployment != nil {
		want := uint64(1)
		if w.Deployment.Spec.Replicas != nil {
			want = uint64(*w.Deployment.Spec.Replicas)
		}
		return swarm.ServiceStatus{DesiredTasks: want, RunningTasks: uint64(w.Deployment.Status.ReadyReplicas)}
	}
	st := w.DaemonSet.Status
	return swarm.ServiceStatus{DesiredTasks: uint64(st.DesiredNumberScheduled), RunningTasks: uint64(st.NumberReady)}
}

// PodTask holds what TasksFromPods needs about one pod.
type PodTask struct {
	Pod  *corev1.Pod
	Slot int
}

// AssignSlots numbers the pods of one service: swarm's task names are
// SERVICE.SLOT, and a replaced task keeps its slot. Pods of each revision
// (pod-template-hash) are numbered from 1 in creation order, so the new
// revision's tasks line up with the ones they replace. A DaemonSet's tasks
// have no slot (the CLI names them SERVICE.NODEID).
func AssignSlots(pods []*corev1.Pod, global bool) []PodTask {
	byRev := map[string][]*corev1.Pod{}
	var revs []string
	for _, p := range pods {
		rev := p.Labels["pod-template-hash"]
		if rev == "" {
			rev = p.Labels["controller-revision-hash"]
		}
		if _, ok := byRev[rev]; !ok {
			revs = append(revs, rev)
		}
		byRev[rev] = append(byRev[rev], p)
	}
	sort.Strings(revs)
	var out []PodTask
	for _, rev := range revs {
		ps := byRev[rev]
		sort.SliceStable(ps, func(i, j int) bool {
			a, b := ps[i].CreationTimestamp.Time, ps[j].CreationTimestamp.Time
			if !a.Equal(b) {
				return a.Before(b)
			}
			return ps[i].Name < ps[j].Name
		})
		for i, p := range ps {
			slot := i + 1
			if global {
				slot = 0
			}
			out = append(out, PodTask{Pod: p, Slot: slot})
		}
	}
	return out
}

// TasksFromPod is the task a pod stands for, preceded by one task per
// earlier run of its container (a restart in Kubernetes, a replaced task
// in swarm), so `service ps` shows the failed runs as history.
func TasksFromPod(pt PodTask, serviceID string, spec swarm.TaskSpec, current bool) []swarm.Task {
	p := pt.Pod
	base := swarm.Task{
		ServiceID: serviceID,
		Slot:      pt.Slot,
		NodeID:    p.Spec.NodeName,
		Spec:      spec,
		Meta: swarm.Meta{
			Version:   swarm.Version{Index: uint64(p.Generation)},
			CreatedAt: p.CreationTimestamp.UTC(),
			UpdatedAt: p.CreationTimestamp.UTC(),
		},
		Annotations: swarm.Annotations{Labels: map[string]string{}},
	}
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == "task" {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	var out []swarm.Task
	if cs != nil && cs.RestartCount > 0 && cs.LastTerminationState.Terminated != nil {
		// Only the last earlier run is known to Kubernetes; it stands for
		// the restarts before it.
		t := base
		t.ID = HistoryTaskID(p.UID, cs.LastTerminationState.Terminated.ContainerID, cs.RestartCount)
		t.DesiredState = swarm.TaskStateShutdown
		t.Status = terminatedStatus(cs.LastTerminationState.Terminated)
		out = append(out, t)
	}
	t := base
	t.ID = ID(p.UID)
	t.DesiredState = swarm.TaskStateRunning
	if p.DeletionTimestamp != nil || !current {
		t.DesiredState = swarm.TaskStateShutdown
	}
	t.Status = podStatus(p, cs)
	return append(out, t)
}

// HistoryTaskID is the ID of the task that stands for a pod's earlier
// run, the container that ended last: derived from the pod and that
// container, so it stays the same while Kubernetes reports that run, and
// it differs from the pod's task in its first 12 characters, which the
// docker CLI shows (service ps, the service logs prefix).
func HistoryTaskID(pod types.UID, containerID string, restarts int32) string {
	key := string(pod) + "/" + containerID
	if containerID == "" {
		key = fmt.Sprintf("%s/r%d", pod, restarts)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func terminatedStatus(term *corev1.ContainerStateTerminated) swarm.TaskStatus {
	st := swarm.TaskStatus{
		Timestamp:       term.FinishedAt.UTC(),
		ContainerStatus: &swarm.ContainerStatus{ContainerID: containerID(term.ContainerID), ExitCode: int(term.ExitCode)},
	}
	if term.ExitCode == 0 {
		st.State, st.Message = swarm.TaskStateComplete, "finished"
		return st
	}
	st.State, st.Message = swarm.TaskStateFailed, "started"
	st.Err = fmt.Sprintf("task: non-zero exit (%d)", term.ExitCode)
	if term.Reason == "OOMKilled" {
		st.Err += ": OOM killed"
	}
	return st
}

func containerID(s string) string {
	_, id, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	return id
}

// podStatus maps a pod's phase and its container's state to swarm's task
// states: pending (not scheduled), preparing (pulling, creating),
// starting (running, not yet healthy), running, complete, failed,
// rejected (the image cannot be had, or the pod cannot be placed).
func podStatus(p *corev1.Pod, cs *corev1.ContainerStatus) swarm.TaskStatus {
	st := swarm.TaskStatus{Timestamp: p.CreationTimestamp.UTC()}
	if p.Status.StartTime != nil {
		st.Timestamp = p.Status.StartTime.UTC()
	}
	switch {
	case cs != nil && cs.State.Running != nil:
		st.Timestamp = cs.State.Running.StartedAt.UTC()
		st.ContainerStatus = &swarm.ContainerStatus{ContainerID: containerID(cs.ContainerID)}
		st.State, st.Message = swarm.TaskStateRunning, "started"
		if !cs.Ready && p.Spec.Containers[0].ReadinessProbe != nil {
			st.State = swarm.TaskStateStarting
		}
		if p.DeletionTimestamp != nil {
			st.Message = "shutting down"
		}
	case cs != nil && cs.State.Terminated != nil:
		st = terminatedStatus(cs.State.Terminated)
		if p.DeletionTimestamp != nil && cs.State.Terminated.ExitCode != 0 {
			// Stopped by the update or scale-down, as swarm shows it.
			st.State, st.Err, st.Message = swarm.TaskStateShutdown, "", "shutdown"
		}
	case cs != nil && cs.State.Waiting != nil:
		w := cs.State.Waiting
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			st.State, st.Message, st.Err = swarm.TaskStateRejected, "preparing", "No such image: "+p.Spec.Containers[0].Image
			if w.Message != "" {
				st.Err += " (" + w.Message + ")"
			}
		case "CrashLoopBackOff":
			st.State, st.Message = swarm.TaskStateReady, "restarting after back-off"
			st.Err = w.Message
		case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
			st.State, st.Message, st.Err = swarm.TaskStateRejected, "starting", w.Message
		default:
			st.State, st.Message = swarm.TaskStatePreparing, "preparing"
		}
	default:
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			st.State, st.Message = swarm.TaskStateComplete, "finished"
		case corev1.PodFailed:
			st.State, st.Message, st.Err = swarm.TaskStateFailed, "failed", p.Status.Message
		default:
			st.State, st.Message = swarm.TaskStatePending, "pending task scheduling"
			if p.Spec.NodeName != "" {
				st.State, st.Message = swarm.TaskStateAssigned, "assigned"
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
					st.Err = "no suitable node (" + c.Message + ")"
				}
			}
		}
	}
	if p.DeletionTimestamp != nil && st.State != swarm.TaskStateRunning {
		if st.State != swarm.TaskStateFailed {
			st.State, st.Message = swarm.TaskStateShutdown, "shutdown"
		}
	}
	return st
}

// Node availability: pause is a cordon, drain a cordon plus a NoExecute
// taint that evicts the node's tasks (as swarm moves them away).
const DrainTaint = "berth.swarm/drain"

// NodeFromKube is the swarm view of a Node. Its ID is the node name:
// constraints (node.id==) and `node ps NAME` then need no lookup.
func NodeFromKube(n *corev1.Node, leader string) swarm.Node {
	out := swarm.Node{
		ID: n.Name,
		Meta: swarm.Meta{
			Version:   swarm.Version{Index: nodeVersion(n)},
			CreatedAt: n.CreationTimestamp.UTC(),
			UpdatedAt: n.CreationTimestamp.UTC(),
		},
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: userLabels(n.Labels)},
			Role:         swarm.NodeRoleWorker,
			Availability: NodeAvailability(n),
		},
		Description: swarm.NodeDescription{
			Hostname: n.Name,
			Platform: swarm.Platform{Architecture: archName(n.Status.NodeInfo.Architecture), OS: n.Status.NodeInfo.OperatingSystem},
			Engine:   swarm.EngineDescription{EngineVersion: n.Status.NodeInfo.ContainerRuntimeVersion},
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateDown},
	}
	if h := n.Labels["kubernetes.io/hostname"]; h != "" {
		out.Description.Hostname = h
	}
	if c, ok := n.Status.Capacity[corev1.ResourceCPU]; ok {
		out.Description.Resources.NanoCPUs = c.MilliValue() * 1e6
	}
	if m, ok := n.Status.Capacity[corev1.ResourceMemory]; ok {
		out.Description.Resources.MemoryBytes = m.Value()
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				out.Status.State = swarm.NodeStateReady
			} else {
				out.Status.Message = c.Message
			}
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			out.Status.Addr = a.Address
		}
	}
	if _, ok := n.Labels[labelControlPlane]; ok {
		out.Spec.Role = swarm.NodeRoleManager
		out.ManagerStatus = &swarm.ManagerStatus{Leader: n.Name == leader || leader == "", Reachability: swarm.ReachabilityReachable, Addr: out.Status.Addr + ":6443"}
		if out.Status.State != swarm.NodeStateReady {
			out.ManagerStatus.Reachability = swarm.ReachabilityUnreachable
		}
	}
	return out
}

// nodeVersion is the resourceVersion as a number: every change moves it.
func nodeVersion(n *corev1.Node) uint64 {
	v, _ := strconv.ParseUint(n.ResourceVersion, 10, 64)
	return v
}

func archName(a string) string {
	switch a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return a
}

// NodeAvailability reads pause and drain back from the cordon and taint.
func NodeAvailability(n *corev1.Node) swarm.NodeAvailability {
	for _, t := range n.Spec.Taints {
		if t.Key == DrainTaint {
			return swarm.NodeAvailabilityDrain
		}
	}
	if n.Spec.Unschedulable {
		return swarm.NodeAvailabilityPause
	}
	return swarm.NodeAvailabilityActive
}

// systemLabel tells Kubernetes' own node labels from the user's.
func systemLabel(k string) bool {
	for _, p := range []string{"kubernetes.io/", "k8s.io/", "node-role.kubernetes.io/", "beta.kubernetes.io/", "node.kubernetes.io/"} {
		if strings.HasPrefix(k, p) || strings.Contains(k, ".kubernetes.io/") {
			return true
		}
	}
	return false
}

func userLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if !systemLabel(k) {
			out[k] = v
		}
	}
	return out
}

// ApplyNodeSpec changes n to carry spec: user labels replaced (system
// labels kept), availability as cordon and drain taint. Changing the role
// is not something Kubernetes nodes do.
func ApplyNodeSpec(n *corev1.Node, spec swarm.NodeSpec) error {
	switch spec.Role {
	case "", swarm.NodeRoleManager, swarm.NodeRoleWorker:
	default:
		return invalid("Role", "%q: want manager or worker", spec.Role)
	}
	for k, v := range spec.Labels {
		if systemLabel(k) {
			return invalid("Labels", "%q is a Kubernetes label", k)
		}
		if !validLabel(k, v) {
			return invalid("Labels", "%q=%q is not a valid Kubernetes label", k, v)
		}
	}
	labels := map[string]string{}
	for k, v := range n.Labels {
		if systemLabel(k) {
			labels[k] = v
		}
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	// The role is the manager label (the credentials that go with it are
	// the caller's, see NodeUpdate).
	switch spec.Role {
	case swarm.NodeRoleManager:
		labels[labelControlPlane] = ""
	case swarm.NodeRoleWorker:
		delete(labels, labelControlPlane)
	}
	n.Labels = labels
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != DrainTaint {
			taints = append(taints, t)
		}
	}
	switch spec.Availability {
	case swarm.NodeAvailabilityActive, "":
		n.Spec.Unschedulable = false
	case swarm.NodeAvailabilityPause:
		n.Spec.Unschedulable = true
	case swarm.NodeAvailabilityDrain:
		n.Spec.Unschedulable = true
		taints = append(taints, corev1.Taint{Key: DrainTaint, Value: "true", Effect: corev1.TaintEffectNoExecute})
	default:
		return invalid("Availability", "%q: want active, pause or drain", spec.Availability)
	}
	n.Spec.Taints = taints
	return nil
}
