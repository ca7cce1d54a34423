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
// copied into the namespaces of the services that mount them. The two
// differ only in the Kubernetes kind that holds them, so one set of
// functions serves both through a refKind.

// maxSecretSize is swarmkit's limit on a secret's or config's data.
const maxSecretSize = 500 * 1024

// refKind is what differs between secrets and configs.
type refKind struct {
	kind       string // "secret" or "config", also the error wording
	objectName func(name string) string
	// store reaches the kind's objects in namespace ns ("" for all).
	store func(kc kubernetes.Interface, ns string) refStore
	// mounted names the refs of this kind a container spec mounts.
	mounted func(cs *swarm.ContainerSpec) []string
	// emptyData: swarm accepts an empty config but not an empty secret.
	emptyData bool
}

var (
	secretKind = refKind{
		kind: "secret", objectName: SecretObjectName,
		store: secretStore,
		mounted: func(cs *swarm.ContainerSpec) []string {
			var out []string
			for _, r := range cs.Secrets {
				if r != nil {
					out = append(out, r.SecretName)
				}
			}
			return out
		},
	}
	configKind = refKind{
		kind: "config", objectName: ConfigObjectName, emptyData: true,
		store: configStore,
		mounted: func(cs *swarm.ContainerSpec) []string {
			var out []string
			for _, r := range cs.Configs {
				if r != nil {
					out = append(out, r.ConfigName)
				}
			}
			return out
		},
	}
)

// refObject is a Secret or a ConfigMap as the ref code sees it: its
// metadata and the data under DataKey.
type refObject struct {
	meta metav1.ObjectMeta
	data []byte
}

// refStore is the part of a Secret or ConfigMap client the refs use;
// errors are Kubernetes' own (callers map them with kubeErr).
type refStore interface {
	list(ctx context.Context, opts metav1.ListOptions) ([]refObject, error)
	get(ctx context.Context, name string) (refObject, error)
	create(ctx context.Context, o refObject) (refObject, error)
	// annotate sets one annotation of an existing object.
	annotate(ctx context.Context, name, key, value string) error
	delete(ctx context.Context, name string) error
}

// kubeClient is what a typed client-go client of Secrets or ConfigMaps
// offers (T the object, L its list).
type kubeClient[T metav1.Object, L any] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// kubeStore is a refStore over one typed client; the functions say where
// the kind keeps its data.
type kubeStore[T metav1.Object, L any] struct {
	c     kubeClient[T, L]
	items func(L) []T
	ref   func(T) refObject
	obj   func(refObject) T
}

func (s kubeStore[T, L]) list(ctx context.Context, opts metav1.ListOptions) ([]refObject, error) {
	l, err := s.c.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	var out []refObject
	for _, x := range s.items(l) {
		out = append(out, s.ref(x))
	}
	return out, nil
}

func (s kubeStore[T, L]) get(ctx context.Context, name string) (refObject, error) {
	x, err := s.c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return refObject{}, err
	}
	return s.ref(x), nil
}

func (s kubeStore[T, L]) create(ctx context.Context, o refObject) (refObject, error) {
	x, err := s.c.Create(ctx, s.obj(o), metav1.CreateOptions{})
	if err != nil {
		return refObject{}, err
	}
	return s.ref(x), nil
}

func (s kubeStore[T, L]) annotate(ctx context.Context, name, key, value string) error {
	x, err := s.c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	a := x.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	x.SetAnnotations(a)
	_, err = s.c.Update(ctx, x, metav1.UpdateOptions{})
	return err
}

func (s kubeStore[T, L]) delete(ctx context.Context, name string) error {
	return s.c.Delete(ctx, name, metav1.DeleteOptions{})
}

// ptrs points at each element of items.
func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func secretStore(kc kubernetes.Interface, ns string) refStore {
	return kubeStore[*corev1.Secret, *corev1.SecretList]{
		c:     kc.CoreV1().Secrets(ns),
		items: func(l *corev1.SecretList) []*corev1.Secret { return ptrs(l.Items) },
		ref:   func(x *corev1.Secret) refObject { return refObject{meta: x.ObjectMeta, data: x.Data[DataKey]} },
		obj: func(o refObject) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: o.meta, Data: map[string][]byte{DataKey: o.data}}
		},
	}
}

func configStore(kc kubernetes.Interface, ns string) refStore {
	return kubeStore[*corev1.ConfigMap, *corev1.ConfigMapList]{
		c:     kc.CoreV1().ConfigMaps(ns),
		items: func(l *corev1.ConfigMapList) []*corev1.ConfigMap { return ptrs(l.Items) },
		ref:   func(x *corev1.ConfigMap) refObject { return refObject{meta: x.ObjectMeta, data: x.BinaryData[DataKey]} },
		obj: func(o refObject) *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: o.meta, BinaryData: map[string][]byte{DataKey: o.data}}
		},
	}
}

// refMeta is one stored secret or config, whichever object holds it.
type refMeta struct {
	meta metav1.ObjectMeta
	spec swarm.Annotations
	data []byte
}

func (m *Manager) refs(ctx context.Context, kc kubernetes.Interface, k refKind) ([]refMeta, error) {
	objs, err := k.store(kc, SystemNamespace).list(ctx, metav1.ListOptions{LabelSelector: LabelKind + "=" + k.kind})
	if err != nil {
		return nil, kubeErr(err)
	}
	var out []refMeta
	for _, o := range objs {
		var a swarm.Annotations
		if json.Unmarshal([]byte(o.meta.Annotations[AnnotationSpec]), &a) == nil {
			out = append(out, refMeta{meta: o.meta, spec: a, data: o.data})
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
	if r, n := resolveRef(all, ref, func(r refMeta) (string, string) { return ID(r.meta.UID), r.spec.Name }); n == 1 {
		return r, nil
	}
	return refMeta{}, errdefs.NotFoundf("%s %s not found", k.kind, ref)
}

// resolveRef finds what ref names among all, as swarm resolves a
// reference: the object whose full ID or name it is, else the one whose
// ID it begins. n counts the objects found: 1 is an answer, more an
// ambiguous prefix.
func resolveRef[T any](all []T, ref string, idName func(T) (id, name string)) (found T, n int) {
	for _, o := range all {
		id, name := idName(o)
		if id == ref || (name != "" && name == ref) {
			return o, 1
		}
		if strings.HasPrefix(id, ref) {
			found, n = o, n+1
		}
	}
	return found, n
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

// listRefs is the list calls: the refs of kind k that f matches, each
// made into the API's type by conv.
func listRefs[T any](ctx context.Context, m *Manager, k refKind, f filters.Args, conv func(refMeta) T) ([]T, error) {
	kc, err := m.client()
	if err != nil {
		return nil, err
	}
	all, err := m.refs(ctx, kc, k)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, r := range all {
		if refMatches(r, f) {
			out = append(out, conv(r))
		}
	}
	return out, nil
}

// inspectRef is the inspect calls.
func inspectRef[T any](ctx context.Context, m *Manager, k refKind, ref string, conv func(refMeta) T) (T, error) {
	var zero T
	kc, err := m.client()
	if err != nil {
		return zero, err
	}
	r, err := m.findRef(ctx, kc, k, ref)
	if err != nil {
		return zero, err
	}
	return conv(r), nil
}

func (m *Manager) createRef(ctx context.Context, k refKind, a swarm.Annotations, data []byte, driver bool) (string, error) {
	kc, err := m.client()
	if err != nil {
		return "", err
	}
	if a.Name == "" {
		return "", invalid("Name", "a %s needs a name", k.kind)
	}
	if driver {
		return "", invalid("Driver", "%s drivers are not supported", k.kind)
	}
	if len(data) == 0 && !k.emptyData {
		return "", errdefs.Invalidf("rpc error: code = InvalidArgument desc = %s data must be larger than 0 and less than %d bytes", k.kind, maxSecretSize)
	}
	if len(data) > maxSecretSize {
		return "", errdefs.Invalidf("rpc error: code = InvalidArgument desc = %s data must be larger than 0 and less than %d bytes", k.kind, maxSecretSize)
	}
	if _, err := m.findRef(ctx, kc, k, a.Name); err == nil {
		return "", errdefs.Conflictf("rpc error: code = AlreadyExists desc = %s %s already exists", k.kind, a.Name)
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
	o, err := k.store(kc, SystemNamespace).create(ctx, refObject{meta: om, data: data})
	if err != nil {
		return "", kubeErr(err)
	}
	return ID(o.meta.UID), nil
}

// copyRefs puts the secrets and configs a service mounts into its
// namespace, from the swarm-wide ones in the system namespace.
func (m *Manager) copyRefs(ctx context.Context, kc kubernetes.Interface, o *Objects) error {
	for _, c := range []struct {
		k     refKind
		names []string
	}{{secretKind, o.Secrets}, {configKind, o.Configs}} {
		for _, name := range c.names {
			src, err := c.k.store(kc, SystemNamespace).get(ctx, c.k.objectName(name))
			if err != nil {
				if apierrors.IsNotFound(err) {
					return errdefs.NotFoundf("%s not found: %s", c.k.kind, name)
				}
				return kubeErr(err)
			}
			cp := refObject{meta: metav1.ObjectMeta{Name: src.meta.Name, Labels: src.meta.Labels}, data: src.data}
			if _, err := c.k.store(kc, o.Namespace).create(ctx, cp); err != nil && !apierrors.IsAlreadyExists(err) {
				return kubeErr(err)
			}
		}
	}
	return nil
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
		for _, n := range k.mounted(cs) {
			if n == name {
				out = append(out, s.spec().Name)
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
		return errdefs.Invalidf("rpc error: code = InvalidArgument desc = %s '%s' is in use by the following service: %s", k.kind, r.spec.Name, strings.Join(users, ", "))
	}
	// The copies in service namespaces go with the original.
	sel := metav1.ListOptions{FieldSelector: "metadata.name=" + r.meta.Name}
	if l, err := k.store(kc, "").list(ctx, sel); err == nil {
		for _, c := range l {
			if c.meta.Labels[LabelManaged] == "true" {
				k.store(kc, c.meta.Namespace).delete(ctx, c.meta.Name)
			}
		}
	}
	err = k.store(kc, SystemNamespace).delete(ctx, r.meta.Name)
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
	return kubeErr(k.store(kc, SystemNamespace).annotate(ctx, r.meta.Name, AnnotationSpec, string(aj)))
}

func secretOf(r refMeta) swarm.Secret {
	return swarm.Secret{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.SecretSpec{Annotations: r.spec}}
}

// configOf carries the data, as swarm's config inspect does (a secret's
// never leaves the cluster).
func configOf(r refMeta) swarm.Config {
	return swarm.Config{ID: ID(r.meta.UID), Meta: refSwarmMeta(r), Spec: swarm.ConfigSpec{Annotations: r.spec, Data: r.data}}
}

func (m *Manager) SecretList(ctx context.Context, f filters.Args) ([]swarm.Secret, error) {
	return listRefs(ctx, m, secretKind, f, secretOf)
}

func (m *Manager) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	return m.createRef(ctx, secretKind, spec.Annotations, spec.Data, spec.Driver != nil)
}

func (m *Manager) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	return inspectRef(ctx, m, secretKind, ref, secretOf)
}

func (m *Manager) SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	return m.updateRef(ctx, secretKind, ref, version, spec.Annotations)
}

func (m *Manager) SecretRemove(ctx context.Context, ref string) error {
	return m.removeRef(ctx, secretKind, ref)
}

// ConfigList lists configs without their data, as swarm does.
func (m *Manager) ConfigList(ctx context.Context, f filters.Args) ([]swarm.Config, error) {
	return listRefs(ctx, m, configKind, f, func(r refMeta) swarm.Config {
		c := configOf(r)
		c.Spec.Data = nil
		return c
	})
}

func (m *Manager) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	return m.createRef(ctx, configKind, spec.Annotations, spec.Data, false)
}

// ConfigInspect returns the config with its data, as swarm does.
func (m *Manager) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	return inspectRef(ctx, m, configKind, ref, configOf)
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
