package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ClusterControl is how the front end asks its daemon for the daemon's own
// single-node Kubernetes (berth cluster up/down) when `swarm init` has no
// cluster to adopt.
type ClusterControl interface {
	Up(ctx context.Context) (kubeconfig []byte, nodeName string, err error)
	// Join makes the daemon a node of another daemon's cluster (swarm
	// join) and returns its node's name; Down undoes that too.
	Join(ctx context.Context, j engine.ClusterJoin) (JoinedNode, error)
	Down(ctx context.Context) error
}

// Config configures a Manager.
type Config struct {
	// StateDir holds state.json and the kubeconfig of the swarm.
	StateDir string
	// VolumeRoot is where named volumes of services live on each node.
	VolumeRoot string
	// Kubeconfig, when set, is the cluster `swarm init` adopts instead of
	// bringing up the daemon's own (daemon.json "swarm-kubeconfig").
	Kubeconfig string
	Cluster    ClusterControl
	Log        *slog.Logger
}

// JoinedNode is the node a daemon became by joining: its name and the file
// of its kubelet's client certificate and key (the node's credential).
type JoinedNode struct {
	Name, Certificate string
}

// state is state.json: what survives a restart of the front end.
type state struct {
	NodeID      string `json:"nodeID"`
	NodeAddr    string `json:"nodeAddr"`
	ClusterID   string `json:"clusterID"`
	OwnsCluster bool   `json:"ownsCluster"` // leave --force brings it down
	// Role is "worker" or "manager" on a node that joined, "" on the node
	// that ran swarm init (the leader, whose host runs the control plane).
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// On a node that joined: its kubelet's certificate file (its own
	// credential), the leader's node, and when its manager token expires.
	NodeCert     string    `json:"nodeCert,omitempty"`
	Leader       string    `json:"leader,omitempty"`
	TokenExpires time.Time `json:"tokenExpires,omitempty"`
}

// leader is the node ID of the swarm's leader.
func (st *state) leader() string {
	if st.Leader != "" || st.Role != "" {
		return st.Leader
	}
	return st.NodeID
}

// Manager is the swarm front end over one Kubernetes cluster. It
// implements engine.SwarmBackend.
type Manager struct {
	cfg Config

	mu sync.Mutex
	st *state
	kc kubernetes.Interface

	countsAt        time.Time
	nodes, managers int
	rbacDone        bool
	leaving         bool  // a leave runs: the role watcher keeps still
	historyLimit    int64 // TaskHistoryRetentionLimit as of countsAt
}

var _ engine.SwarmBackend = (*Manager)(nil)

// NewManager loads the saved swarm state, if any; it does not reach the
// cluster until a call needs it.
func NewManager(cfg Config) (*Manager, error) {
	m := &Manager{cfg: cfg}
	b, err := os.ReadFile(m.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", m.statePath(), err)
	}
	m.st = &st
	return m, nil
}

// NewManagerWithClient is a Manager over an existing client (tests, and a
// front end embedded by a caller that holds one).
func NewManagerWithClient(cfg Config, kc kubernetes.Interface, nodeID string) *Manager {
	return &Manager{cfg: cfg, kc: kc, st: &state{NodeID: nodeID, ClusterID: "test", CreatedAt: time.Now().UTC()}}
}

func (m *Manager) statePath() string      { return filepath.Join(m.cfg.StateDir, "state.json") }
func (m *Manager) kubeconfigPath() string { return filepath.Join(m.cfg.StateDir, "kubeconfig") }

// client returns the Kubernetes client, made on first use.
func (m *Manager) client() (kubernetes.Interface, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kc != nil {
		return m.kc, nil
	}
	if m.st == nil {
		return nil, errdefs.Unavailable(errors.New("This node is not part of a swarm"))
	}
	rc, err := clientcmd.BuildConfigFromFlags("", m.kubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("swarm kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	m.kc = kc
	return kc, nil
}

// SwarmInfo is cheap: saved state plus node counts refreshed at most every
// few seconds.
func (m *Manager) SwarmInfo(ctx context.Context) swarm.Info {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	if st == nil {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	info := swarm.Info{
		NodeID: st.NodeID, NodeAddr: st.NodeAddr, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: st.Role != roleWorker,
		Cluster: &swarm.ClusterInfo{ID: st.ClusterID, Meta: swarm.Meta{CreatedAt: st.CreatedAt, UpdatedAt: st.CreatedAt, Version: swarm.Version{Index: 1}}},
	}
	if addr := m.managerAddr(); addr != "" {
		info.RemoteManagers = []swarm.Peer{{Addr: addr}}
		if st.Role != roleWorker {
			info.RemoteManagers[0].NodeID = st.leader()
		}
	}
	if st.Role == roleWorker {
		// A worker knows no cluster state, as in swarm.
		info.Cluster = nil
		return info
	}
	info.Nodes, info.Managers = m.counts(ctx)
	m.mu.Lock()
	limit := m.historyLimit
	if m.countsAt.IsZero() {
		limit = DefaultTaskHistory
	}
	m.mu.Unlock()
	info.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit = &limit
	return info
}

func (m *Manager) counts(ctx context.Context) (nodes, managers int) {
	m.mu.Lock()
	fresh := time.Since(m.countsAt) < 5*time.Second
	nodes, managers = m.nodes, m.managers
	m.mu.Unlock()
	if fresh {
		return nodes, managers
	}
	kc, err := m.client()
	if err != nil {
		return nodes, managers
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nodes, managers
	}
	nodes, managers = len(l.Items), 0
	for i := range l.Items {
		if _, ok := l.Items[i].Labels[labelControlPlane]; ok {
			managers++
		}
	}
	limit := m.taskHistoryLimit(ctx, kc)
	m.mu.Lock()
	m.nodes, m.managers, m.countsAt, m.historyLimit = nodes, managers, time.Now(), limit
	m.mu.Unlock()
	return nodes, managers
}

// SwarmInit adopts the configured cluster, or brings up the daemon's own,
// and makes this node its manager.
func (m *Manager) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	if req.ForceNewCluster {
		return "", errdefs.Invalidf("--force-new-cluster: the cluster is Kubernetes'; leave and init again")
	}
	if err := os.MkdirAll(m.cfg.StateDir, 0o700); err != nil {
		return "", err
	}
	owns := false
	var kubeconfig []byte
	var nodeName string
	var err error
	if m.cfg.Kubeconfig != "" {
		if kubeconfig, err = os.ReadFile(m.cfg.Kubeconfig); err != nil {
			return "", errdefs.Invalid(fmt.Errorf("swarm kubeconfig: %w", err))
		}
	} else {
		if m.cfg.Cluster == nil {
			return "", errdefs.NotImplemented(errors.New("this daemon cannot run a Kubernetes cluster; give it one with daemon.json \"swarm-kubeconfig\""))
		}
		if kubeconfig, nodeName, err = m.cfg.Cluster.Up(ctx); err != nil {
			return "", fmt.Errorf("bringing up the swarm's Kubernetes: %w", err)
		}
		owns = true
	}
	if err := atomicfile.Write(m.kubeconfigPath(), kubeconfig, 0o600); err != nil {
		return "", err
	}
	m.mu.Lock()
	m.kc = nil
	m.st = &state{OwnsCluster: owns}
	m.mu.Unlock()
	fail := func(err error) (string, error) {
		m.mu.Lock()
		m.st, m.kc = nil, nil
		m.mu.Unlock()
		os.Remove(m.kubeconfigPath())
		if owns {
			m.cfg.Cluster.Down(context.WithoutCancel(ctx))
		}
		return "", err
	}
	kc, err := m.client()
	if err != nil {
		return fail(err)
	}
	node, err := m.selfNode(ctx, kc, nodeName)
	if err != nil {
		return fail(err)
	}
	ns, err := m.ensureNamespace(ctx, kc, SystemNamespace, nil)
	if err != nil {
		return fail(err)
	}
	st := &state{NodeID: node.Name, ClusterID: ID(ns.UID), OwnsCluster: owns, CreatedAt: time.Now().UTC()}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			st.NodeAddr = a.Address
		}
	}
	if req.AdvertiseAddr != "" && st.NodeAddr == "" {
		st.NodeAddr = req.AdvertiseAddr
	}
	if ns.Annotations[AnnotationLeader] != node.Name {
		patch := []byte(`{"metadata":{"annotations":{"` + AnnotationLeader + `":"` + node.Name + `"}}}`)
		if _, err := kc.CoreV1().Namespaces().Patch(ctx, SystemNamespace, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fail(kubeErr(err))
		}
	}
	st.Leader = node.Name
	if _, err := m.joinTokens(ctx, kc); err != nil {
		return fail(fmt.Errorf("join tokens: %w", err))
	}
	b, _ := json.Marshal(st)
	if err := atomicfile.Write(m.statePath(), b, 0o600); err != nil {
		return fail(err)
	}
	m.mu.Lock()
	m.st = st
	m.mu.Unlock()
	return st.NodeID, nil
}

// selfNode finds this daemon's node: the one named, else the only one,
// else the first control-plane node.
func (m *Manager) selfNode(ctx context.Context, kc kubernetes.Interface, name string) (*corev1.Node, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range l.Items {
				if name != "" && l.Items[i].Name == name {
					return &l.Items[i], nil
				}
			}
			if name == "" && len(l.Items) > 0 {
				sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
				for i := range l.Items {
					if _, ok := l.Items[i].Labels["node-role.kubernetes.io/control-plane"]; ok {
						return &l.Items[i], nil
					}
				}
				return &l.Items[0], nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("no node registered")
			}
			return nil, fmt.Errorf("waiting for this node in Kubernetes: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// SwarmLeave on the manager removes every swarm object and, for a cluster
// the daemon brought up, the cluster.
func (m *Manager) SwarmLeave(ctx context.Context, force bool) error {
	m.mu.Lock()
	st := m.st
	m.leaving = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.leaving = false
		m.mu.Unlock()
	}()
	var err error
	switch {
	case st == nil:
		return errdefs.Unavailable(errors.New("This node is not part of a swarm"))
	case st.Role == roleWorker:
		kc, _ := m.client()
		err = m.leaveWorker(ctx, st, kc)
	case !force:
		reachable, unreachable := 1, 0
		if kc, err := m.client(); err == nil {
			if r, u, err := managerStats(ctx, kc); err == nil && r+u > 0 {
				reachable, unreachable = r, u
			}
		}
		return errdefs.Unavailable(errors.New(leaveManagerMessage(reachable, unreachable)))
	case st.Role == roleManager:
		// A manager that joined gives its role up (its service account
		// goes, and with it its token), then leaves as a worker does.
		nc, nerr := m.nodeClient(st)
		if kc, err := m.client(); err == nil {
			patch := []byte(`{"metadata":{"labels":{"` + labelControlPlane + `":null}}}`)
			kc.CoreV1().Nodes().Patch(ctx, st.NodeID, types.MergePatchType, patch, metav1.PatchOptions{})
			if err := revokeManager(ctx, kc, st.NodeID, true); err != nil && m.cfg.Log != nil {
				m.cfg.Log.Warn("swarm leave: revoking this manager's credentials", "err", err)
			}
		}
		if nerr != nil {
			nc = nil
		}
		err = m.leaveWorker(ctx, st, nc)
	case st.OwnsCluster:
		// The cluster goes, and everything in it.
		err = m.cfg.Cluster.Down(ctx)
	default:
		if kc, cerr := m.client(); cerr == nil {
			err = m.removeAll(ctx, kc)
		}
	}
	if err != nil {
		return err
	}
	m.removeCredentials()
	m.mu.Lock()
	m.st, m.kc = nil, nil
	m.mu.Unlock()
	return nil
}

// initializing reports whether swarm init runs (its state has no node yet).
func (m *Manager) initializing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st != nil && m.st.NodeID == ""
}

// RunsControlPlane reports whether this node is the leader, whose host
// runs the cluster's control plane: the routing mesh and the update
// monitor run there only (a second manager on the same host would collide
// with its ports, and two monitors would roll back twice).
func (m *Manager) RunsControlPlane() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st != nil && m.st.Role == ""
}

// removeAll deletes what the swarm made in an adopted cluster: the stacks'
// namespaces, our objects in default and the system namespace.
func (m *Manager) removeAll(ctx context.Context, kc kubernetes.Interface) error {
	sel := metav1.ListOptions{LabelSelector: LabelManaged + "=true"}
	nss, err := kc.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return err
	}
	for _, ns := range nss.Items {
		if err := kc.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	if err := kc.AppsV1().Deployments(DefaultNamespace).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := kc.AppsV1().DaemonSets(DefaultNamespace).DeleteCollection(ctx, del, sel); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	svcs, err := kc.CoreV1().Services(DefaultNamespace).List(ctx, sel)
	if err == nil {
		for _, s := range svcs.Items {
			kc.CoreV1().Services(DefaultNamespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		}
	}
	kc.CoreV1().Secrets(DefaultNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	kc.CoreV1().ConfigMaps(DefaultNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	// The managers' roles and bindings (the service accounts went with
	// the system namespace).
	kc.RbacV1().ClusterRoleBindings().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	kc.RbacV1().ClusterRoles().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	// The join tokens (bootstrap token Secrets) swarm init made.
	if err := kc.CoreV1().Secrets("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (m *Manager) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	info := m.SwarmInfo(ctx)
	sw := swarm.Swarm{ClusterInfo: *info.Cluster}
	sw.Spec.Name = "default"
	sw.Spec.Dispatcher.HeartbeatPeriod = 5 * time.Second
	kc, err := m.client()
	if err != nil {
		return swarm.Swarm{}, err
	}
	sw.Spec.Orchestration.TaskHistoryRetentionLimit = ptr(m.taskHistoryLimit(ctx, kc))
	if sw.JoinTokens, err = m.joinTokens(ctx, kc); err != nil {
		return swarm.Swarm{}, fmt.Errorf("join tokens: %w", err)
	}
	return sw, nil
}

func (m *Manager) SwarmUpdate(ctx context.Context, version uint64, spec swarm.Spec, flags engine.SwarmUpdateFlags) error {
	if spec.EncryptionConfig.AutoLockManagers {
		return errdefs.Invalidf("autolock: the swarm's keys are the Kubernetes cluster's PKI")
	}
	kc, err := m.client()
	if err != nil {
		return err
	}
	if n := spec.Orchestration.TaskHistoryRetentionLimit; n != nil && *n != m.taskHistoryLimit(ctx, kc) {
		if err := m.setTaskHistoryLimit(ctx, kc, *n); err != nil {
			return err
		}
	}
	if !flags.RotateWorkerToken && !flags.RotateManagerToken {
		return nil
	}
	for role, rotate := range map[string]bool{roleWorker: flags.RotateWorkerToken, roleManager: flags.RotateManagerToken} {
		if rotate {
			if err := m.rotateToken(ctx, kc, role); err != nil {
				return err
			}
		}
	}
	_, err = m.joinTokens(ctx, kc)
	return err
}

func (m *Manager) SwarmUnlockKey(ctx context.Context) (string, error) {
	return "", errdefs.NotFoundf("no unlock key is set")
}

func (m *Manager) ensureNamespace(ctx context.Context, kc kubernetes.Interface, name string, labels map[string]string) (*corev1.Namespace, error) {
	ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return ns, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	l := map[string]string{LabelManaged: "true"}
	for k, v := range labels {
		l[k] = v
	}
	ns, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	}
	return ns, err
}

// kubeErr classes a Kubernetes API error for the HTTP layer.
func kubeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return errdefs.NotFound(err)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return errdefs.Conflict(err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return errdefs.Invalid(err)
	case apierrors.IsForbidden(err):
		return errdefs.Forbidden(err)
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return errdefs.Unavailable(err)
	}
	return err
}

// ---- services

// service is one service's Kubernetes objects.
type service struct {
	w   Workload
	svc *corev1.Service
}

func (s service) spec() swarm.ServiceSpec { sp, _ := s.w.Spec(); return sp }

// services lists every service the swarm made.
func (m *Manager) services(ctx context.Context, kc kubernetes.Interface) ([]service, error) {
	sel := metav1.ListOptions{LabelSelector: LabelManaged + "=true," + LabelService}
	ds, err := kc.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		return nil, kubeErr(err)
	}
	dss, err := kc.AppsV1().DaemonSets("").List(ctx, sel)
	if err != nil {
		return nil, kubeErr(err)
	}
	svcs, err := kc.CoreV1().Services("").List(ctx, sel)
	if err != nil {
		return nil, kubeErr(err)
	}
	byKey := map[string]*corev1.Service{}
	for i := range svcs.Items {
		byKey[svcs.Items[i].Namespace+"/"+svcs.Items[i].Name] = &svcs.Items[i]
	}
	var out []service
	for i := range ds.Items {
		d := &ds.Items[i]
		out = append(out, service{w: Workload{Deployment: d}, svc: byKey[d.Namespace+"/"+d.Name]})
	}
	for i := range dss.Items {
		d := &dss.Items[i]
		out = append(out, service{w: Workload{DaemonSet: d}, svc: byKey[d.Namespace+"/"+d.Name]})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].w.Meta().Labels[LabelService] < out[j].w.Meta().Labels[LabelService]
	})
	return out, nil
}

// findService resolves a full ID, a service name or a unique ID prefix.
func (m *Manager) findService(ctx context.Context, kc kubernetes.Interface, ref string) (service, error) {
	all, err := m.services(ctx, kc)
	if err != nil {
		return service{}, err
	}
	s, n := resolveRef(all, ref, func(s service) (string, string) { return ID(s.w.Meta().UID), s.w.Meta().Labels[LabelService] })
	switch {
	case n == 1:
		return s, nil
	case n > 1:
		return service{}, errdefs.Invalidf("service %s is ambiguous (%d matches found)", ref, n)
	}
	return service{}, errdefs.NotFoundf("service %s not found", ref)
}

func (m *Manager) ServiceList(ctx context.Context, f filters.Args, status bool) ([]swarm.Service, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, err := m.services(ctx, kc)
	if err != nil {
		return nil, err
	}
	nets := m.networkIDs(ctx, kc)
	var out []swarm.Service
	for _, s := range all {
		sv, err := ServiceFromKube(s.w, s.svc, nets)
		if err != nil {
			continue
		}
		if !serviceMatches(sv, f) {
			continue
		}
		if status {
			st := ServiceStatus(s.w)
			sv.ServiceStatus = &st
		}
		out = append(out, sv)
	}
	return out, nil
}

func serviceMatches(s swarm.Service, f filters.Args) bool {
	if f.Len() == 0 {
		return true
	}
	if f.Contains("id") && !anyPrefix(f.Get("id"), s.ID) {
		return false
	}
	if f.Contains("name") && !anyPrefix(f.Get("name"), s.Spec.Name) {
		return false
	}
	if f.Contains("label") && !f.MatchKVList("label", s.Spec.Labels) {
		return false
	}
	if f.Contains("mode") {
		mode := "replicated"
		if s.Spec.Mode.Global != nil {
			mode = "global"
		}
		if !f.ExactMatch("mode", mode) {
			return false
		}
	}
	return true
}

func anyPrefix(vals []string, s string) bool {
	for _, v := range vals {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

func (m *Manager) ServiceInspect(ctx context.Context, ref string, insertDefaults bool) (swarm.Service, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.Service{}, err
	}
	s, err := m.findService(ctx, kc, ref)
	if err != nil {
		return swarm.Service{}, err
	}
	return ServiceFromKube(s.w, s.svc, m.networkIDs(ctx, kc))
}

// fillPorts gives each ingress port without a published port one from
// swarm's range 30000-32767 that no other service publishes.
func (m *Manager) fillPorts(ctx context.Context, kc kubernetes.Interface, spec *swarm.ServiceSpec, self string) error {
	if spec.EndpointSpec == nil {
		return nil
	}
	used := map[uint32]bool{}
	all, err := m.services(ctx, kc)
	if err != nil {
		return err
	}
	for _, s := range all {
		sp := s.spec()
		if sp.Name == self || sp.EndpointSpec == nil {
			continue
		}
		for _, p := range sp.EndpointSpec.Ports {
			if p.PublishMode != swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
				used[p.PublishedPort] = true
			}
		}
	}
	next := uint32(30000)
	for i := range spec.EndpointSpec.Ports {
		p := &spec.EndpointSpec.Ports[i]
		if p.PublishMode == swarm.PortConfigPublishModeHost {
			continue
		}
		if p.PublishedPort != 0 {
			if used[p.PublishedPort] {
				return errdefs.Invalidf("port '%d' is already in use by another service", p.PublishedPort)
			}
			continue
		}
		for used[next] && next < 32767 {
			next++
		}
		p.PublishedPort = next
		used[next] = true
	}
	return nil
}

func (m *Manager) ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, auth string) (swarm.ServiceCreateResponse, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	if spec.Name == "" {
		return swarm.ServiceCreateResponse{}, invalid("Name", "a service needs a name")
	}
	if _, err := m.findServiceByName(ctx, kc, spec.Name); err == nil {
		return swarm.ServiceCreateResponse{}, errdefs.Conflictf("rpc error: code = AlreadyExists desc = name conflicts with an existing object: service %s already exists", spec.Name)
	}
	if err := m.fillPorts(ctx, kc, &spec, spec.Name); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	o, err := Translate(spec, TranslateOptions{VolumeRoot: m.cfg.VolumeRoot})
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	var nsLabels map[string]string
	if st := spec.Labels[LabelStack]; st != "" {
		nsLabels = map[string]string{LabelStack: st}
	}
	if _, err := m.ensureNamespace(ctx, kc, o.Namespace, nsLabels); err != nil {
		return swarm.ServiceCreateResponse{}, kubeErr(err)
	}
	if err := m.copyRefs(ctx, kc, o); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	svc, err := kc.CoreV1().Services(o.Namespace).Create(ctx, o.Service, metav1.CreateOptions{})
	if err != nil {
		return swarm.ServiceCreateResponse{}, kubeErr(err)
	}
	var uid string
	if o.Deployment != nil {
		d, err := kc.AppsV1().Deployments(o.Namespace).Create(ctx, o.Deployment, metav1.CreateOptions{})
		if err != nil {
			kc.CoreV1().Services(o.Namespace).Delete(context.WithoutCancel(ctx), svc.Name, metav1.DeleteOptions{})
			return swarm.ServiceCreateResponse{}, kubeErr(err)
		}
		uid = ID(d.UID)
	} else {
		d, err := kc.AppsV1().DaemonSets(o.Namespace).Create(ctx, o.DaemonSet, metav1.CreateOptions{})
		if err != nil {
			kc.CoreV1().Services(o.Namespace).Delete(context.WithoutCancel(ctx), svc.Name, metav1.DeleteOptions{})
			return swarm.ServiceCreateResponse{}, kubeErr(err)
		}
		uid = ID(d.UID)
	}
	return swarm.ServiceCreateResponse{ID: uid, Warnings: o.Warnings}, nil
}

func (m *Manager) findServiceByName(ctx context.Context, kc kubernetes.Interface, name string) (service, error) {
	all, err := m.services(ctx, kc)
	if err != nil {
		return service{}, err
	}
	for _, s := range all {
		if s.w.Meta().Labels[LabelService] == name {
			return s, nil
		}
	}
	return service{}, errdefs.NotFoundf("service %s not found", name)
}

func (m *Manager) ServiceUpdate(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, opts engine.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	// The swarm version is the workload's generation, which moves with the
	// spec only; its resourceVersion also moves with its status and the
	// update monitor's annotations. A write that loses to one of those is
	// tried again while the spec is still the version the client read.
	for attempt := 1; ; attempt++ {
		cur, err := m.findService(ctx, kc, ref)
		if err != nil {
			return swarm.ServiceUpdateResponse{}, err
		}
		if Version(cur.w.Meta()) != version {
			return swarm.ServiceUpdateResponse{}, errdefs.Invalidf("rpc error: code = Unknown desc = update out of sequence")
		}
		var resp swarm.ServiceUpdateResponse
		if opts.Rollback == "previous" {
			resp, err = m.rollback(ctx, kc, cur, "manually requested rollback")
		} else {
			resp, err = m.applyUpdate(ctx, kc, cur, spec, swarm.UpdateStateUpdating, "update in progress")
		}
		if err == nil || !apierrors.IsConflict(err) || attempt == 5 {
			return resp, err
		}
	}
}

// rollback re-applies a service's previous spec, as swarm's rollback does:
// the Deployment's template becomes that of an older ReplicaSet, which the
// Deployment controller scales up again (Kubernetes' rollout undo), with
// the strategy of the rollback config.
func (m *Manager) rollback(ctx context.Context, kc kubernetes.Interface, cur service, message string) (swarm.ServiceUpdateResponse, error) {
	prevRaw := cur.w.Meta().Annotations[AnnotationPrev]
	if prevRaw == "" {
		return swarm.ServiceUpdateResponse{}, errdefs.Invalidf("service %s does not have a previous spec", cur.spec().Name)
	}
	var spec swarm.ServiceSpec
	if err := json.Unmarshal([]byte(prevRaw), &spec); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	return m.applyUpdate(ctx, kc, cur, spec, swarm.UpdateStateRollbackStarted, message)
}

// applyUpdate replaces cur's objects with those of spec and records the
// update's state; the spec it replaces becomes the previous spec.
func (m *Manager) applyUpdate(ctx context.Context, kc kubernetes.Interface, cur service, spec swarm.ServiceSpec, state swarm.UpdateState, message string) (swarm.ServiceUpdateResponse, error) {
	curSpec := cur.spec()
	if spec.Name != curSpec.Name {
		return swarm.ServiceUpdateResponse{}, invalid("Name", "renaming services is not supported")
	}
	if (spec.Mode.Global != nil) != (curSpec.Mode.Global != nil) {
		return swarm.ServiceUpdateResponse{}, invalid("Mode", "service mode change is not allowed")
	}
	if err := m.fillPorts(ctx, kc, &spec, spec.Name); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	o, err := Translate(spec, TranslateOptions{VolumeRoot: m.cfg.VolumeRoot, Rollback: state == swarm.UpdateStateRollbackStarted})
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	if err := m.copyRefs(ctx, kc, o); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	curJSON, _ := json.Marshal(curSpec)
	now := time.Now().UTC()
	us, _ := json.Marshal(swarm.UpdateStatus{State: state, StartedAt: &now, Message: message})
	// As in swarm, only a change of what the tasks run starts an update
	// (a scale does not): otherwise the last update's status stays.
	oldTmpl, _ := json.Marshal(curSpec.TaskTemplate)
	newTmpl, _ := json.Marshal(spec.TaskTemplate)
	keepStatus := state == swarm.UpdateStateUpdating && bytes.Equal(oldTmpl, newTmpl)
	annotate := func(om *metav1.ObjectMeta) {
		om.Annotations[AnnotationPrev] = string(curJSON)
		if prev, ok := cur.w.Meta().Annotations[AnnotationState]; keepStatus && ok {
			om.Annotations[AnnotationState] = prev
		} else if !keepStatus {
			om.Annotations[AnnotationState] = string(us)
		}
	}
	if d := cur.w.Deployment; d != nil {
		nd := o.Deployment
		annotate(&nd.ObjectMeta)
		nd.ResourceVersion = d.ResourceVersion
		if _, err := kc.AppsV1().Deployments(d.Namespace).Update(ctx, nd, metav1.UpdateOptions{}); err != nil {
			return swarm.ServiceUpdateResponse{}, kubeErr(err)
		}
	} else {
		d := cur.w.DaemonSet
		nd := o.DaemonSet
		annotate(&nd.ObjectMeta)
		nd.ResourceVersion = d.ResourceVersion
		if _, err := kc.AppsV1().DaemonSets(d.Namespace).Update(ctx, nd, metav1.UpdateOptions{}); err != nil {
			return swarm.ServiceUpdateResponse{}, kubeErr(err)
		}
	}
	if cur.svc != nil {
		ns := o.Service
		ns.ResourceVersion = cur.svc.ResourceVersion
		if ns.Spec.ClusterIP == "" || (ns.Spec.ClusterIP == corev1.ClusterIPNone) == (cur.svc.Spec.ClusterIP == corev1.ClusterIPNone) {
			ns.Spec.ClusterIP, ns.Spec.ClusterIPs = cur.svc.Spec.ClusterIP, cur.svc.Spec.ClusterIPs
			_, err = kc.CoreV1().Services(ns.Namespace).Update(ctx, ns, metav1.UpdateOptions{})
		} else {
			// Between headless and a VIP: a Service's cluster IP is
			// immutable, so it is made again.
			if err = kc.CoreV1().Services(ns.Namespace).Delete(ctx, ns.Name, metav1.DeleteOptions{}); err == nil {
				ns.ResourceVersion = ""
				_, err = kc.CoreV1().Services(ns.Namespace).Create(ctx, ns, metav1.CreateOptions{})
			}
		}
		if err != nil {
			return swarm.ServiceUpdateResponse{}, kubeErr(err)
		}
	}
	return swarm.ServiceUpdateResponse{Warnings: o.Warnings}, nil
}

func (m *Manager) ServiceRemove(ctx context.Context, ref string) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	s, err := m.findService(ctx, kc, ref)
	if err != nil {
		return err
	}
	meta := s.w.Meta()
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	if s.w.Deployment != nil {
		err = kc.AppsV1().Deployments(meta.Namespace).Delete(ctx, meta.Name, del)
	} else {
		err = kc.AppsV1().DaemonSets(meta.Namespace).Delete(ctx, meta.Name, del)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err)
	}
	if err := removeHistory(ctx, kc, s.w); err != nil {
		return kubeErr(err)
	}
	if s.svc != nil {
		if err := kc.CoreV1().Services(meta.Namespace).Delete(ctx, s.svc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return kubeErr(err)
		}
	}
	return m.collectNamespace(ctx, kc, meta.Namespace)
}

// collectNamespace deletes a stack's namespace once it holds no service
// and no network of the swarm (stack rm removes services, then networks).
func (m *Manager) collectNamespace(ctx context.Context, kc kubernetes.Interface, ns string) error {
	if ns == DefaultNamespace || ns == SystemNamespace {
		return nil
	}
	n, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || n.Labels[LabelManaged] != "true" {
		return nil
	}
	sel := metav1.ListOptions{LabelSelector: LabelManaged + "=true"}
	if l, err := kc.AppsV1().Deployments(ns).List(ctx, sel); err != nil || len(l.Items) > 0 {
		return nil
	}
	if l, err := kc.AppsV1().DaemonSets(ns).List(ctx, sel); err != nil || len(l.Items) > 0 {
		return nil
	}
	nets, err := kc.CoreV1().ConfigMaps(SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: LabelKind + "=network," + LabelStack + "=" + n.Labels[LabelStack]})
	if err != nil || len(nets.Items) > 0 {
		return nil
	}
	if err := kc.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err)
	}
	return nil
}

// ---- tasks

// tasks is every task of the swarm, the pod of each, and those of an
// older revision of their service (not up to date, in swarm's words).
func (m *Manager) tasks(ctx context.Context, kc kubernetes.Interface) ([]swarm.Task, map[string]*corev1.Pod, map[string]bool, error) {
	all, err := m.services(ctx, kc)
	if err != nil {
		return nil, nil, nil, err
	}
	pods, err := kc.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: LabelManaged + "=true," + LabelService})
	if err != nil {
		return nil, nil, nil, kubeErr(err)
	}
	byService := map[string][]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		byService[p.Namespace+"/"+p.Labels[LabelService]] = append(byService[p.Namespace+"/"+p.Labels[LabelService]], p)
	}
	var out []swarm.Task
	podOf, old := map[string]*corev1.Pod{}, map[string]bool{}
	for _, s := range all {
		meta := s.w.Meta()
		spec := s.spec()
		current := m.currentRevision(ctx, kc, s.w)
		for _, pt := range AssignSlots(byService[meta.Namespace+"/"+meta.Labels[LabelService]], s.w.DaemonSet != nil) {
			rev := pt.Pod.Labels["pod-template-hash"]
			if rev == "" {
				rev = pt.Pod.Labels["controller-revision-hash"]
			}
			upToDate := current == "" || rev == current
			for _, t := range TasksFromPod(pt, ID(meta.UID), revisionSpec(s.w, rev, current), upToDate) {
				t.Annotations.Labels = copyMap(spec.Labels)
				if !upToDate {
					old[t.ID] = true
				}
				out = append(out, t)
				podOf[t.ID] = pt.Pod
			}
		}
	}
	// The tasks of deleted pods, from the services' task history.
	hist, desired, err := m.historyTasks(ctx, kc, all, podOf)
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range out {
		if d, ok := desired[out[i].ID]; ok {
			out[i].DesiredState = d // a pod being scaled away: remove
		}
	}
	for _, t := range hist {
		old[t.ID] = true
		out = append(out, t)
	}
	return out, podOf, old, nil
}

// currentRevision is the pod-template-hash of a Deployment's newest
// ReplicaSet ("" when unknown: every pod counts as current).
func (m *Manager) currentRevision(ctx context.Context, kc kubernetes.Interface, w Workload) string {
	d := w.Deployment
	if d == nil {
		return ""
	}
	rss, err := kc.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelService + "=" + d.Labels[LabelService]})
	if err != nil {
		return ""
	}
	best, bestRev := "", -1
	for _, rs := range rss.Items {
		rev, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
		if rev > bestRev {
			best, bestRev = rs.Labels["pod-template-hash"], rev
		}
	}
	return best
}

func (m *Manager) TaskList(ctx context.Context, f filters.Args) ([]swarm.Task, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, _, old, err := m.tasks(ctx, kc)
	if err != nil {
		return nil, err
	}
	var svcIDs map[string]bool
	if f.Contains("service") {
		svcIDs = map[string]bool{}
		for _, ref := range f.Get("service") {
			s, err := m.findService(ctx, kc, ref)
			if err != nil {
				return nil, err
			}
			svcIDs[ID(s.w.Meta().UID)] = true
		}
	}
	names, err := m.serviceNames(ctx, kc, f)
	if err != nil {
		return nil, err
	}
	var out []swarm.Task
	for _, t := range all {
		if svcIDs != nil && !svcIDs[t.ServiceID] {
			continue
		}
		if f.Contains("node") && !f.ExactMatch("node", t.NodeID) {
			continue
		}
		if f.Contains("desired-state") && !f.ExactMatch("desired-state", string(t.DesiredState)) {
			continue
		}
		if f.Contains("id") && !anyPrefix(f.Get("id"), t.ID) {
			continue
		}
		if f.Contains("name") && !anyPrefix(f.Get("name"), taskName(names[t.ServiceID], t)) {
			continue
		}
		if f.Contains("label") && !f.MatchKVList("label", t.Annotations.Labels) {
			continue
		}
		// docker's progress display asks for the tasks that run the
		// service's current spec only.
		if f.Contains("_up-to-date") && old[t.ID] {
			continue
		}
		out = append(out, t)
	}
	// In ID order, as dockerd lists its store (the CLIs order tasks
	// themselves: service ps by name and time; docker's progress bars
	// take the slots in Go's map order).
	slices.SortFunc(out, func(a, b swarm.Task) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *Manager) TaskInspect(ctx context.Context, ref string) (swarm.Task, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.Task{}, err
	}
	all, _, _, err := m.tasks(ctx, kc)
	if err != nil {
		return swarm.Task{}, err
	}
	return findTask(all, ref)
}

// findTask resolves a task's ID or a unique prefix of it.
func findTask(all []swarm.Task, ref string) (swarm.Task, error) {
	if t, n := resolveRef(all, ref, func(t swarm.Task) (string, string) { return t.ID, "" }); n == 1 {
		return t, nil
	}
	return swarm.Task{}, errdefs.NotFoundf("task %s not found", ref)
}

// ---- logs

func (m *Manager) ServiceLogs(ctx context.Context, ref string, opts engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	s, err := m.findService(ctx, kc, ref)
	if err != nil {
		return nil, err
	}
	id := ID(s.w.Meta().UID)
	if opts.Follow {
		return m.followService(ctx, kc, id, opts), nil
	}
	all, pods, _, err := m.tasks(ctx, kc)
	if err != nil {
		return nil, err
	}
	var ts []swarm.Task
	for _, t := range all {
		// Every task with a pod: the pods' current runs, and their
		// earlier runs the kubelet still keeps (history tasks).
		if t.ServiceID == id && pods[t.ID] != nil {
			ts = append(ts, t)
		}
	}
	return m.logs(ctx, kc, ts, pods, opts), nil
}

func (m *Manager) TaskLogs(ctx context.Context, ref string, opts engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, pods, _, err := m.tasks(ctx, kc)
	if err != nil {
		return nil, err
	}
	t, err := findTask(all, ref)
	if err != nil {
		return nil, err
	}
	return m.logs(ctx, kc, []swarm.Task{t}, pods, opts), nil
}

// ---- nodes

func (m *Manager) NodeList(ctx context.Context, f filters.Args) ([]swarm.Node, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, kubeErr(err)
	}
	leader := m.leaderID()
	addr := m.managerAddr()
	var out []swarm.Node
	for i := range l.Items {
		n := NodeFromKube(&l.Items[i], leader)
		if n.ManagerStatus != nil && addr != "" {
			n.ManagerStatus.Addr = addr
		}
		if f.Contains("id") && !anyPrefix(f.Get("id"), n.ID) {
			continue
		}
		if f.Contains("name") && !anyPrefix(f.Get("name"), n.Description.Hostname) {
			continue
		}
		if f.Contains("role") && !f.ExactMatch("role", string(n.Spec.Role)) {
			continue
		}
		if f.Contains("membership") && !f.ExactMatch("membership", "accepted") {
			continue
		}
		if f.Contains("node.label") && !f.MatchKVList("node.label", n.Spec.Labels) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

func (m *Manager) findNode(ctx context.Context, kc kubernetes.Interface, ref string) (*corev1.Node, error) {
	if ref == "self" {
		ref = m.SwarmInfo(ctx).NodeID
	}
	n, err := kc.CoreV1().Nodes().Get(ctx, ref, metav1.GetOptions{})
	if err == nil {
		return n, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, kubeErr(err)
	}
	return nil, errdefs.NotFoundf("node %s not found", ref)
}

func (m *Manager) NodeInspect(ctx context.Context, ref string) (swarm.Node, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.Node{}, err
	}
	n, err := m.findNode(ctx, kc, ref)
	if err != nil {
		return swarm.Node{}, err
	}
	out := NodeFromKube(n, m.leaderID())
	if addr := m.managerAddr(); out.ManagerStatus != nil && addr != "" {
		out.ManagerStatus.Addr = addr
	}
	return out, nil
}

func (m *Manager) NodeUpdate(ctx context.Context, ref string, version uint64, spec swarm.NodeSpec) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	n, err := m.findNode(ctx, kc, ref)
	if err != nil {
		return err
	}
	if nodeVersion(n) != version {
		return errdefs.Invalidf("rpc error: code = Unknown desc = update out of sequence")
	}
	_, wasManager := n.Labels[labelControlPlane]
	promote := spec.Role == swarm.NodeRoleManager && !wasManager
	demote := spec.Role == swarm.NodeRoleWorker && wasManager
	if demote && n.Name == m.leaderID() {
		return errdefs.Invalidf("rpc error: code = FailedPrecondition desc = node %s is the swarm's leader: its host runs the Kubernetes control plane, which cannot move to another node", n.Name)
	}
	if err := ApplyNodeSpec(n, spec); err != nil {
		return err
	}
	if promote {
		// The node's front end fetches its token once it sees its label.
		if err := grantManager(ctx, kc, n.Name, true); err != nil {
			return kubeErr(err)
		}
	}
	if _, err = kc.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		if promote {
			revokeManager(context.WithoutCancel(ctx), kc, n.Name, false)
		}
		return kubeErr(err)
	}
	if demote {
		// Its service account goes, so its token is refused from now on.
		return kubeErr(revokeManager(ctx, kc, n.Name, false))
	}
	return nil
}

// leaderID is the node ID of the swarm's leader ("" when not known).
func (m *Manager) leaderID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st == nil {
		return ""
	}
	return m.st.leader()
}

func (m *Manager) NodeRemove(ctx context.Context, ref string, force bool) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	n, err := m.findNode(ctx, kc, ref)
	if err != nil {
		return err
	}
	sn := NodeFromKube(n, m.leaderID())
	if sn.Spec.Role == swarm.NodeRoleManager {
		return errdefs.Invalidf("rpc error: code = FailedPrecondition desc = node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", n.Name)
	}
	if sn.Status.State != swarm.NodeStateDown && !force {
		return errdefs.Invalidf("rpc error: code = FailedPrecondition desc = node %s is not down and can't be removed", n.Name)
	}
	if err := kc.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil {
		return kubeErr(err)
	}
	// What a manager that left could not remove of its own role.
	if err := revokeManager(ctx, kc, n.Name, false); err != nil && m.cfg.Log != nil {
		m.cfg.Log.Warn("node rm: the node's manager role", "node", n.Name, "err", err)
	}
	return nil
}
