package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Secrets and configs are kept swarm-wide in the system namespace (a
// Secret or ConfigMap each, its spec without data in an annotation) and
// copied into the namespaces of the services that mount them.

// maxSecretSize is swarmkit's limit on a secret's or config's data.
const maxSecretSize = 500 * 1024

type refKind struct {
	kind  string // "secret" or "config"
	title string
}

var (
	secretKind = refKind{"secret", "secret"}
	configKind = refKind{"config", "config"}
)

func (k refKind) objectName(name string) string {
	if k.kind == "secret" {
		return SecretObjectName(name)
	}
	return ConfigObjectName(name)
}

// refMeta is one stored secret or config, whichever object holds it.
type refMeta struct {
	meta metav1.ObjectMeta
	spec swarm.Annotations
}

func (m *Manager) refs(ctx context.Context, kc kubernetes.Interface, k refKind) ([]refMeta, error) {
	sel := metav1.ListOptions{LabelSelector: LabelKind + "=" + k.kind}
	var out []refMeta
	add := func(om metav1.ObjectMeta) {
		var a swarm.Annotations
		if json.Unmarshal([]byte(om.Annotations[AnnotationSpec]), &a) == nil {
			out = append(out, refMeta{meta: om, spec: a})
		}
	}
	if k.kind == "secret" {
		l, err := kc.CoreV1().Secrets(SystemNamespace).List(ctx, sel)
		if err != nil {
			return nil, kubeErr(err)
		}
		for _, s := range l.Items {
			add(s.ObjectMeta)
		}
	} else {
		l, err := kc.CoreV1().ConfigMaps(SystemNamespace).List(ctx, sel)
		if err != nil {
			return nil, kubeErr(err)
		}
		for _, c := range l.Items {
			add(c.ObjectMeta)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec.Name < out[j].spec.Name })
	return out, nil
}

func (m *Manager) findRef(ctx context.Context, kc kubernetes.Interface, k refKind, ref string) (refMeta, error) {
	all, err := m.refs(ctx, kc, k)
	if err != nil {
		return refMeta{}, err
	}
	var match []refMeta
	for _, r := range all {
		id := ID(r.meta.UID)
		if id == ref || r.spec.Name == ref {
			return r, nil
		}
		if strings.HasPrefix(id, ref) {
			match = append(match, r)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	return refMeta{}, errdefs.NotFoundf("%s %s not found", k.title, ref)
}

func refMatches(r refMeta, f filters.Args) bool {
	if f.Contains("id") && !anyPrefix(f.Get("id"), ID(r.meta.UID)) {
		return false
	}
	if f.Contains("name") && !anyPrefix(f.Get("name"), r.spec.Name) {
		return false
	}
	if f.Contains("label") && !f.MatchKVList("label", r.spec.Labels) {
		return false
	}
	return true
}

func refSwarmMeta(r refMeta) swarm.Meta {
	t := r.meta.CreationTimestamp.UTC()
	v, _ := parseVersion(r.meta.ResourceVersion)
	return swarm.Meta{Version: swarm.Version{Index: v}, CreatedAt: t, UpdatedAt: t}
}

func parseVersion(s string) (uint64, error) {
	var v uint64
	_, err := fmt.Sscan(s, &v)
	return v, err
}

func (m *Manager) createRef(ctx context.Context, k refKind, a swarm.Annotations, data []byte, driver bool) (string, error) {
	kc, err := m.client()
	if err != nil {
		return "", err
	}
	if a.Name == "" {
		return "", invalid("Name", "a %s needs a name", k.title)
	}
	if driver {
		return "", invalid("Driver", "%s drivers are not supported", k.title)
	}
	if len(data) == 0 && k.kind == "secret" {
		return "", errdefs.Invalidf("rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than %d bytes", maxSecretSize)
	}
	if len(data) > maxSecretSize {
		return "", errdefs.Invalidf("rpc error: code = InvalidArgument desc = %s data must be larger than 0 and less than %d bytes", k.title, maxSecretSize)
	}
	if _, err := m.findRef(ctx, kc, k, a.Name); err == nil {
		return "", errdefs.Conflictf("rpc error: code = AlreadyExists desc = %s %s already exists", k.title, a.Name)
	}
	if _, err := m.ensureNamespace(ctx, kc, SystemNamespace, nil); err != nil {
		return "", kubeErr(err)
	}
	aj, _ := json.Marshal(a)
	om := metav1.ObjectMeta{
		Name:        k.objectName(a.Name),
		Labels:      map[string]string{LabelManaged: "true", LabelKind: k.kind},
		Annotations: map[string]string{AnnotationSpec: string(aj)},
	}
	if st := a.Labels[LabelStack]; st != "" && validLabel(LabelStack, st) {
		om.Labels[LabelStack] = st
	}
	var uid string
	if k.kind == "secret" {
		s, err := kc.CoreV1().Secrets(SystemNamespace).Create(ctx, &corev1.Secret{ObjectMeta: om, Data: map[string][]byte{DataKey: data}}, metav1.CreateOptions{})
		if err != nil {
			return "", kubeErr(err)
		}
		uid = ID(s.UID)
	} else {
		c, err := kc.CoreV1().ConfigMaps(SystemNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: om, BinaryData: map[string][]byte{DataKey: data}}, metav1.CreateOptions{})
		if err != nil {
			return "", kubeErr(err)
		}
		uid = ID(c.UID)
	}
	return uid, nil
}

// usedBy names the services that mount a secret or config (swarm refuses
// to remove one in use).
func (m *Manager) usedBy(ctx context.Context, kc kubernetes.Interface, k refKind, name string) ([]string, error) {
	all, err := m.services(ctx, kc)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		cs := s.spec().TaskTemplate.ContainerSpec
		if cs == nil {
			continue
		}
		if k.kind == "secret" {
			for _, r := range cs.Secrets {
				if r != nil && r.SecretName == name {
					out = append(out, s.spec().Name)
				}
			}
		} else {
			for _, r := range cs.Configs {
				if r != nil && r.ConfigName == name {
					out = append(out, s.spec().Name)
				}
			}
		}
	}
	return out, nil
}

func (m *Manager) removeRef(ctx context.Context, k refKind, ref string) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	r, err := m.findRef(ctx, kc, k, ref)
	if err != nil {
		return err
	}
	users, err := m.usedBy(ctx, kc, k, r.spec.Name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return errdefs.Invalidf("rpc error: code = InvalidArgument desc = %s '%s' is in use by the following service: %s", k.title, r.spec.Name, strings.Join(users, ", "))
	}
	// The copies in service namespaces go with the original.
	sel := metav1.ListOptions{FieldSelector: "metadata.name=" + r.meta.Name}
	if k.kind == "secret" {
		if l, err := kc.CoreV1().Secrets("").List(ctx, sel); err == nil {
			for _, s := range l.Items {
				if s.Labels[LabelManaged] == "true" {
					kc.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
				}
			}
		}
		err = kc.CoreV1().Secrets(SystemNamespace).Delete(ctx, r.meta.Name, metav1.DeleteOptions{})
	} else {
		if l, err := kc.CoreV1().ConfigMaps("").List(ctx, sel); err == nil {
			for _, c := range l.Items {
				if c.Labels[LabelManaged] == "true" {
					kc.CoreV1().ConfigMaps(c.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{})
				}
			}
		}
		err = kc.CoreV1().ConfigMaps(SystemNamespace).Delete(ctx, r.meta.Name, metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err)
	}
	return nil
}

// updateRef changes only labels, as swarm allows.
func (m *Manager) updateRef(ctx context.Context, k refKind, ref string, version uint64, a swarm.Annotations) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	r, err := m.findRef(ctx, kc, k, ref)
	if err != nil {
		return err
	}
	if v, _ := parseVersion(r.meta.ResourceVersion); v != version {
		return errdefs.Invalidf("rpc error: code = Unknown desc = update out of sequence")
	}
	if a.Name != r.spec.Name {
		return errdefs.Invalidf("rpc error: code = InvalidArgument desc = only updates to Labels are allowed")
	}
	aj, _ := json.Marshal(a)
	if k.kind == "secret" {
		s, err := kc.CoreV1().Secrets(SystemNamespace).Get(ctx, r.meta.Name, metav1.GetOptions{})
		if err != nil {
			return kubeErr(err)
		}
		s.Annotations[AnnotationSpec] = string(aj)
		_, err = kc.CoreV1().Secrets(SystemNamespace).Update(ctx, s, metav1.UpdateOptions{})
		return kubeErr(err)
	}
	c, err := kc.CoreV1().ConfigMaps(SystemNamespace).Get(ctx, r.meta.Name, metav1.GetOptions{})
	if err != nil {
		return kubeErr(err)
	}
	c.Annotations[AnnotationSpec] = string(aj)
	_, err = kc.CoreV1().ConfigMaps(SystemNamespace).Update(ctx, c, metav1.UpdateOptions{})
	return kubeErr(err)
}

func (m *Manager) SecretList(ctx context.Context, f filters.Args) ([]swarm.Secret, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, err := m.refs(ctx, kc, secretKind)
	if err != nil {
		return nil, err
	}
	var out []swarm.Secret
	for _, r := range all {
		if refMatches(r, f) {
			out = append(out, swarm.Secret{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.SecretSpec{Annotations: r.spec}})
		}
	}
	return out, nil
}

func (m *Manager) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	return m.createRef(ctx, secretKind, spec.Annotations, spec.Data, spec.Driver != nil)
}

func (m *Manager) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.Secret{}, err
	}
	r, err := m.findRef(ctx, kc, secretKind, ref)
	if err != nil {
		return swarm.Secret{}, err
	}
	return swarm.Secret{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.SecretSpec{Annotations: r.spec}}, nil
}

func (m *Manager) SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	return m.updateRef(ctx, secretKind, ref, version, spec.Annotations)
}

func (m *Manager) SecretRemove(ctx context.Context, ref string) error {
	return m.removeRef(ctx, secretKind, ref)
}

func (m *Manager) ConfigList(ctx context.Context, f filters.Args) ([]swarm.Config, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, err := m.refs(ctx, kc, configKind)
	if err != nil {
		return nil, err
	}
	var out []swarm.Config
	for _, r := range all {
		if refMatches(r, f) {
			out = append(out, swarm.Config{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.ConfigSpec{Annotations: r.spec}})
		}
	}
	return out, nil
}

func (m *Manager) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	return m.createRef(ctx, configKind, spec.Annotations, spec.Data, false)
}

// ConfigInspect returns the config with its data, as swarm does.
func (m *Manager) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	kc, err := m.client()
	if err != nil {
		return swarm.Config{}, err
	}
	r, err := m.findRef(ctx, kc, configKind, ref)
	if err != nil {
		return swarm.Config{}, err
	}
	c := swarm.Config{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.ConfigSpec{Annotations: r.spec}}
	if cm, err := kc.CoreV1().ConfigMaps(SystemNamespace).Get(ctx, r.meta.Name, metav1.GetOptions{}); err == nil {
		c.Spec.Data = cm.BinaryData[DataKey]
	}
	return c, nil
}

func (m *Manager) ConfigUpdate(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error {
	return m.updateRef(ctx, configKind, ref, version, spec.Annotations)
}

func (m *Manager) ConfigRemove(ctx context.Context, ref string) error {
	return m.removeRef(ctx, configKind, ref)
}

// ---- overlay networks

// Stacks create overlay networks before their services. On Kubernetes
// every pod reaches every other over the cluster network, so a swarm
// network is a record (a ConfigMap in the system namespace) that stack
// tooling lists and removes; its stack's namespace is made with it.

func networkObjectName(name string) string { return "swarm-network-" + kubeName(name) }

func (m *Manager) networkRecords(ctx context.Context, kc kubernetes.Interface) ([]corev1.ConfigMap, error) {
	l, err := kc.CoreV1().ConfigMaps(SystemNamespace).List(ctx, metav1.ListOptions{LabelSelector: LabelKind + "=network"})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, kubeErr(err)
	}
	return l.Items, nil
}

// networkIDs maps network names to IDs, for services' virtual IPs.
func (m *Manager) networkIDs(ctx context.Context, kc kubernetes.Interface) map[string]string {
	recs, _ := m.networkRecords(ctx, kc)
	out := map[string]string{}
	for _, r := range recs {
		var n network.Inspect
		if json.Unmarshal([]byte(r.Annotations[AnnotationSpec]), &n) == nil {
			out[n.Name] = ID(r.UID)
		}
	}
	return out
}

func networkFromRecord(cm corev1.ConfigMap) (network.Inspect, error) {
	var n network.Inspect
	if err := json.Unmarshal([]byte(cm.Annotations[AnnotationSpec]), &n); err != nil {
		return n, err
	}
	n.ID = ID(cm.UID)
	n.Created = cm.CreationTimestamp.UTC()
	n.Containers = map[string]network.EndpointResource{}
	return n, nil
}

// SwarmNetworkCreate records an overlay network of the swarm.
func (m *Manager) SwarmNetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	kc, err := m.client()
	if err != nil {
		return network.CreateResponse{}, err
	}
	if req.Driver != "overlay" {
		return network.CreateResponse{}, errdefs.Invalidf("swarm networks use the overlay driver, not %q", req.Driver)
	}
	if req.Name == "" {
		return network.CreateResponse{}, errdefs.Invalidf("network name cannot be empty")
	}
	recs, err := m.networkRecords(ctx, kc)
	if err != nil {
		return network.CreateResponse{}, err
	}
	for _, r := range recs {
		if n, err := networkFromRecord(r); err == nil && n.Name == req.Name {
			return network.CreateResponse{}, errdefs.Conflictf("network with name %s already exists", req.Name)
		}
	}
	if _, err := m.ensureNamespace(ctx, kc, SystemNamespace, nil); err != nil {
		return network.CreateResponse{}, kubeErr(err)
	}
	st := req.Labels[LabelStack]
	if st != "" {
		if _, err := m.ensureNamespace(ctx, kc, kubeName(st), map[string]string{LabelStack: st}); err != nil {
			return network.CreateResponse{}, kubeErr(err)
		}
	}
	n := network.Inspect{Network: network.Network{
		Name: req.Name, Scope: "swarm", Driver: "overlay", EnableIPv4: true, Attachable: req.Attachable,
		Internal: req.Internal, Labels: req.Labels, Options: req.Options,
	}}
	if req.IPAM != nil {
		n.IPAM = *req.IPAM
	}
	if n.IPAM.Driver == "" {
		n.IPAM.Driver = "default"
	}
	nj, _ := json.Marshal(n)
	labels := map[string]string{LabelManaged: "true", LabelKind: "network"}
	if st != "" && validLabel(LabelStack, st) {
		labels[LabelStack] = st
	}
	cm, err := kc.CoreV1().ConfigMaps(SystemNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: networkObjectName(req.Name), Labels: labels, Annotations: map[string]string{AnnotationSpec: string(nj)},
	}}, metav1.CreateOptions{})
	if err != nil {
		return network.CreateResponse{}, kubeErr(err)
	}
	return network.CreateResponse{ID: ID(cm.UID)}, nil
}

// SwarmNetworkList lists the swarm's networks (filters name, id, label, driver,
// scope).
func (m *Manager) SwarmNetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	recs, err := m.networkRecords(ctx, kc)
	if err != nil {
		return nil, err
	}
	var out []network.Inspect
	for _, r := range recs {
		n, err := networkFromRecord(r)
		if err != nil {
			continue
		}
		if f.Contains("name") && !f.Match("name", n.Name) {
			continue
		}
		if f.Contains("id") && !anyPrefix(f.Get("id"), n.ID) {
			continue
		}
		if f.Contains("label") && !f.MatchKVList("label", n.Labels) {
			continue
		}
		if f.Contains("driver") && !f.ExactMatch("driver", "overlay") {
			continue
		}
		if f.Contains("scope") && !f.ExactMatch("scope", "swarm") {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *Manager) findNetwork(ctx context.Context, kc kubernetes.Interface, ref string) (corev1.ConfigMap, network.Inspect, error) {
	recs, err := m.networkRecords(ctx, kc)
	if err != nil {
		return corev1.ConfigMap{}, network.Inspect{}, err
	}
	for _, r := range recs {
		n, err := networkFromRecord(r)
		if err != nil {
			continue
		}
		if n.ID == ref || n.Name == ref || (len(ref) >= 3 && strings.HasPrefix(n.ID, ref)) {
			return r, n, nil
		}
	}
	return corev1.ConfigMap{}, network.Inspect{}, errdefs.NotFoundf("network %s not found", ref)
}

func (m *Manager) SwarmNetworkInspect(ctx context.Context, ref string) (network.Inspect, error) {
	kc, err := m.client()
	if err != nil {
		return network.Inspect{}, err
	}
	_, n, err := m.findNetwork(ctx, kc, ref)
	return n, err
}

// SwarmNetworkRemove refuses a network a service still uses, as swarm does.
func (m *Manager) SwarmNetworkRemove(ctx context.Context, ref string) error {
	kc, err := m.client()
	if err != nil {
		return err
	}
	cm, n, err := m.findNetwork(ctx, kc, ref)
	if err != nil {
		return err
	}
	all, err := m.services(ctx, kc)
	if err != nil {
		return err
	}
	for _, s := range all {
		for _, att := range s.spec().TaskTemplate.Networks {
			if att.Target == n.Name || att.Target == n.ID {
				return errdefs.Invalidf("rpc error: code = FailedPrecondition desc = network %s is in use by service %s", n.ID, ID(s.w.Meta().UID))
			}
		}
	}
	if err := kc.CoreV1().ConfigMaps(SystemNamespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return kubeErr(err)
	}
	if st := n.Labels[LabelStack]; st != "" {
		return m.collectNamespace(ctx, kc, kubeName(st))
	}
	return nil
}
