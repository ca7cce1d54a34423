package swarm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// Managers. The swarm's Kubernetes control plane (etcd, apiserver,
// controller manager, scheduler) runs on the host of the node that ran
// `swarm init`, the leader. Another node is a manager when its front end
// holds manager credentials to that apiserver and so serves the manager
// endpoints against it: a token of its own service account
// berth-swarm/swarm-manager-NODE, which the ClusterRoleBinding
// berth-swarm:managers binds to the ClusterRole berth-swarm:manager (what
// the swarm layer does, nothing else), and the node carries the label
// node-role.kubernetes.io/control-plane that swarm's role is read from.
//
//   - Joining with the manager token: the token's group
//     (system:bootstrappers:berth-swarm:manager) may create service
//     accounts in berth-swarm, tokens for them, and add subjects to
//     berth-swarm:managers, which the worker token's group may not; so only
//     the manager token yields manager credentials. Rotating it deletes its
//     bootstrap token: joined managers keep their own credentials.
//   - `node promote`: a manager makes the node's service account, asks for
//     a token of it and leaves that in Secret berth-swarm/swarm-manager-NODE,
//     which the node itself (system:node:NODE, its kubelet's certificate)
//     may read and delete; the node's front end sees its label, takes the
//     token and deletes the Secret. (NodeRestriction refuses a kubelet's
//     credential a token of its own asking.)
//   - `node demote` and a manager's leave delete the service account, which
//     invalidates its tokens at once; the node's front end drops the file.
const (
	managerRole        = "berth-swarm:manager"
	managersBinding    = "berth-swarm:managers"
	managerJoinRole    = "berth-swarm:manager-join"
	managerJoinNSRole  = "berth-swarm:manager-join-sa"
	groupManagerTokens = "system:bootstrappers:berth-swarm:" + roleManager
	groupWorkerTokens  = "system:bootstrappers:berth-swarm:" + roleWorker
	labelControlPlane  = "node-role.kubernetes.io/control-plane"
	// AnnotationLeader on the system namespace names the leader's node.
	AnnotationLeader = "berth.swarm/leader"
	// managerTokenLife is how long a manager's token is valid; its front
	// end renews it after half of that.
	managerTokenLife = 365 * 24 * time.Hour
)

func managerAccount(node string) string { return "swarm-manager-" + node }

// ensureSwarmRBAC writes the roles and bindings above (as an administrator
// of the cluster: at swarm init, and on the join tokens' first use after an
// upgrade).
func (m *Manager) ensureSwarmRBAC(ctx context.Context, kc kubernetes.Interface) error {
	m.mu.Lock()
	done := m.rbacDone
	m.mu.Unlock()
	if done {
		return nil
	}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelManaged: "true"}}
	}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	core, apps, rbac := []string{""}, []string{"apps"}, []string{"rbac.authorization.k8s.io"}
	rule := func(groups, resources, verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
	}
	roles := []*rbacv1.ClusterRole{
		{ObjectMeta: meta(managerRole, ""), Rules: []rbacv1.PolicyRule{
			// Stacks are namespaces made on demand; services, secrets,
			// configs and networks live in them, the join tokens in
			// kube-system.
			rule(core, []string{"namespaces", "services", "secrets", "configmaps", "pods", "serviceaccounts"}, all),
			rule(core, []string{"pods/log", "nodes/proxy"}, []string{"get"}),
			rule(core, []string{"nodes"}, []string{"get", "list", "watch", "update", "patch", "delete"}),
			rule(core, []string{"nodes/status"}, []string{"update", "patch"}),
			rule(core, []string{"serviceaccounts/token"}, []string{"create"}),
			rule(apps, []string{"deployments", "daemonsets", "replicasets"}, all),
			// Promote and demote: the managers' binding, and the role that
			// lets a promoted node fetch its token.
			rule(rbac, []string{"clusterrolebindings"}, []string{"get", "update", "patch"}, managersBinding),
			rule(rbac, []string{"clusterroles"}, []string{"bind"}, managerRole),
			rule(rbac, []string{"roles", "rolebindings"}, []string{"get", "create", "update", "delete"}),
		}},
		{ObjectMeta: meta(managerJoinRole, ""), Rules: []rbacv1.PolicyRule{
			rule(rbac, []string{"clusterrolebindings"}, []string{"get", "update"}, managersBinding),
			rule(rbac, []string{"clusterroles"}, []string{"bind"}, managerRole),
		}},
		{ObjectMeta: meta(managerJoinNSRole, ""), Rules: []rbacv1.PolicyRule{
			rule(core, []string{"serviceaccounts"}, []string{"get", "create", "delete"}),
			rule(core, []string{"serviceaccounts/token"}, []string{"create"}),
		}},
	}
	for _, r := range roles {
		if err := upsert(ctx, kc.RbacV1().ClusterRoles().Create, kc.RbacV1().ClusterRoles().Get, kc.RbacV1().ClusterRoles().Update, r, func(cur, want *rbacv1.ClusterRole) { cur.Rules = want.Rules }); err != nil {
			return err
		}
	}
	group := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}}
	}
	ref := func(name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	}
	crbs := []*rbacv1.ClusterRoleBinding{
		{ObjectMeta: meta(managersBinding, ""), RoleRef: ref(managerRole)},
		{ObjectMeta: meta(managerJoinRole, ""), RoleRef: ref(managerJoinRole), Subjects: group(groupManagerTokens)},
	}
	for _, b := range crbs {
		// The managers' subjects are kept: they are the joined managers.
		if err := upsert(ctx, kc.RbacV1().ClusterRoleBindings().Create, kc.RbacV1().ClusterRoleBindings().Get, kc.RbacV1().ClusterRoleBindings().Update, b, func(cur, want *rbacv1.ClusterRoleBinding) {
			if want.Name != managersBinding {
				cur.Subjects = want.Subjects
			}
		}); err != nil {
			return err
		}
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: meta(managerJoinNSRole, SystemNamespace), RoleRef: ref(managerJoinNSRole), Subjects: group(groupManagerTokens)}
	rbs := kc.RbacV1().RoleBindings(SystemNamespace)
	if err := upsert(ctx, rbs.Create, rbs.Get, rbs.Update, rb, func(cur, want *rbacv1.RoleBinding) { cur.Subjects = want.Subjects }); err != nil {
		return err
	}
	m.mu.Lock()
	m.rbacDone = true
	m.mu.Unlock()
	return nil
}

// upsert creates obj, or updates the existing one with fix.
func upsert[T any](ctx context.Context,
	create func(context.Context, *T, metav1.CreateOptions) (*T, error),
	get func(context.Context, string, metav1.GetOptions) (*T, error),
	update func(context.Context, *T, metav1.UpdateOptions) (*T, error),
	obj *T, fix func(cur, want *T)) error {
	if _, err := create(ctx, obj, metav1.CreateOptions{}); err == nil || !apierrors.IsAlreadyExists(err) {
		return kubeErr(err)
	}
	name := any(obj).(metav1.Object).GetName()
	return kubeErr(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		fix(cur, obj)
		_, err = update(ctx, cur, metav1.UpdateOptions{})
		return err
	}))
}

// setManagerSubject adds or removes node's service account in the
// managers' binding.
func setManagerSubject(ctx context.Context, kc kubernetes.Interface, node string, present bool) error {
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: managerAccount(node), Namespace: SystemNamespace}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b, err := kc.RbacV1().ClusterRoleBindings().Get(ctx, managersBinding, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var subs []rbacv1.Subject
		found := false
		for _, s := range b.Subjects {
			if s == want {
				found = true
				if !present {
					continue
				}
			}
			subs = append(subs, s)
		}
		if found == present {
			return nil
		}
		if present {
			subs = append(subs, want)
		}
		b.Subjects = subs
		_, err = kc.RbacV1().ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{})
		return err
	})
}

// grantManager makes node's service account a manager's; forNode also
// hands the node itself (its kubelet's identity) a token of it, which is
// how a promoted node gets its credentials. The node cannot ask for the
// token itself: NodeRestriction refuses a kubelet's credential every
// token not bound to a pod on its node. So the promoting manager asks for
// it and leaves it in a Secret that only that node (and the managers, who
// may make such tokens anyway) may read; the node deletes it once taken.
func grantManager(ctx context.Context, kc kubernetes.Interface, node string, forNode bool) error {
	name := managerAccount(node)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: SystemNamespace,
		Labels: map[string]string{LabelManaged: "true"}, Annotations: map[string]string{"berth.swarm/node": node}}}
	if _, err := kc.CoreV1().ServiceAccounts(SystemNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := setManagerSubject(ctx, kc, node, true); err != nil {
		return err
	}
	if !forNode {
		return nil
	}
	tok, exp, err := managerToken(ctx, kc, node)
	if err != nil {
		return err
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: SystemNamespace, Labels: map[string]string{LabelManaged: "true"}}
	sec := &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"token": []byte(tok), "expires": []byte(exp.UTC().Format(time.RFC3339))}}
	secs := kc.CoreV1().Secrets(SystemNamespace)
	if err := upsert(ctx, secs.Create, secs.Get, secs.Update, sec, func(cur, want *corev1.Secret) { cur.Type, cur.Data = want.Type, want.Data }); err != nil {
		return err
	}
	role := &rbacv1.Role{ObjectMeta: meta,
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "delete"}, ResourceNames: []string{name}}}}
	roles := kc.RbacV1().Roles(SystemNamespace)
	if err := upsert(ctx, roles.Create, roles.Get, roles.Update, role, func(cur, want *rbacv1.Role) { cur.Rules = want.Rules }); err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:node:" + node}}}
	if _, err := kc.RbacV1().RoleBindings(SystemNamespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// promotedToken reads, with the node's own credential, the manager token
// grantManager left for it.
func promotedToken(ctx context.Context, nc kubernetes.Interface, node string) (string, time.Time, error) {
	secs := nc.CoreV1().Secrets(SystemNamespace)
	s, err := secs.Get(ctx, managerAccount(node), metav1.GetOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	tok := string(s.Data["token"])
	exp, err := time.Parse(time.RFC3339, string(s.Data["expires"]))
	if tok == "" || err != nil {
		return "", time.Time{}, fmt.Errorf("the manager token left for this node is malformed (%v)", err)
	}
	return tok, exp, nil
}

// revokeManager undoes grantManager: deleting the service account
// invalidates every token of it at once. A manager revoking itself (its
// leave) acts with that token, so it cannot take itself out of the
// managers' binding first (it would lose the right to the rest): the
// leader drops the subject with `node rm`.
func revokeManager(ctx context.Context, kc kubernetes.Interface, node string, self bool) error {
	name := managerAccount(node)
	var errs []error
	if !self {
		if err := setManagerSubject(ctx, kc, node, false); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, del := range []func() error{
		func() error {
			return kc.RbacV1().RoleBindings(SystemNamespace).Delete(ctx, name, metav1.DeleteOptions{})
		},
		func() error { return kc.RbacV1().Roles(SystemNamespace).Delete(ctx, name, metav1.DeleteOptions{}) },
		func() error { return kc.CoreV1().Secrets(SystemNamespace).Delete(ctx, name, metav1.DeleteOptions{}) },
		func() error {
			return kc.CoreV1().ServiceAccounts(SystemNamespace).Delete(ctx, name, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// managerToken asks for a token of node's manager service account.
func managerToken(ctx context.Context, kc kubernetes.Interface, node string) (string, time.Time, error) {
	secs := int64(managerTokenLife / time.Second)
	tr, err := kc.CoreV1().ServiceAccounts(SystemNamespace).CreateToken(ctx, managerAccount(node),
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}

// tokenGroups asks the apiserver who a client is (SelfSubjectReview):
// the groups of a join token tell a worker's from a manager's.
func tokenGroups(ctx context.Context, kc kubernetes.Interface) ([]string, error) {
	r, err := kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return r.Status.UserInfo.Groups, nil
}

// leaveManagerMessage is dockerd's refusal of a manager's leave without
// --force, from the managers that are reachable (Ready) and not.
func leaveManagerMessage(reachable, unreachable int) string {
	msg := "You are attempting to leave the swarm on a node that is participating as a manager. "
	if reachable-2 <= unreachable {
		if reachable == 1 && unreachable == 0 {
			return msg + "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. "
		}
		msg += fmt.Sprintf("Removing this node leaves %v managers out of %v. Without a Raft quorum your swarm will be inaccessible. ", reachable-1, reachable+unreachable)
	}
	return msg + "The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message."
}

// managerStats counts the manager nodes that are Ready and those that are not.
func managerStats(ctx context.Context, kc kubernetes.Interface) (reachable, unreachable int, err error) {
	l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labelControlPlane})
	if err != nil {
		return 0, 0, err
	}
	for i := range l.Items {
		if nodeIsReady(&l.Items[i]) {
			reachable++
		} else {
			unreachable++
		}
	}
	return reachable, unreachable, nil
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeClient is a client with this node's own credential (its kubelet's
// certificate), which a joined node keeps whatever its role.
func (m *Manager) nodeClient(st *state) (kubernetes.Interface, error) {
	server, ca, err := m.clusterOf()
	if err != nil {
		return nil, err
	}
	return nodeClientFor(server, ca, st.NodeCert)
}

// nodeClientFor is a client with a node's certificate file.
func nodeClientFor(server string, caPEM []byte, certFile string) (kubernetes.Interface, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(certKubeconfig(server, caPEM, certFile))
	if err != nil {
		return nil, err
	}
	rc.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(rc)
}

// clusterOf is the apiserver's URL and CA from the swarm's kubeconfig.
func (m *Manager) clusterOf() (string, []byte, error) {
	cfg, err := clientcmd.LoadFromFile(m.kubeconfigPath())
	if err != nil {
		return "", nil, err
	}
	for _, c := range cfg.Clusters {
		return c.Server, c.CertificateAuthorityData, nil
	}
	return "", nil, errors.New("swarm kubeconfig names no cluster")
}

// setRole switches this joined node's front end between worker and manager:
// it writes the credential the role uses (the manager's token, or the
// node's own certificate, which drops the manager's) and the state.
func (m *Manager) setRole(st, to *state, role, token string, expires time.Time) error {
	server, ca, err := m.clusterOf()
	if err != nil {
		return err
	}
	next := *to
	next.Role, next.TokenExpires = role, expires
	kubeconfig := certKubeconfig(server, ca, st.NodeCert)
	if role == roleManager {
		kubeconfig = tokenKubeconfig(server, ca, token)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st != st || m.leaving {
		return nil // left or changed meanwhile
	}
	if err := m.saveState(&next, kubeconfig); err != nil {
		return err
	}
	m.st, m.kc = &next, nil
	return nil
}

// WatchRole follows, on a node that joined, what the managers decide: a
// worker whose node a manager promoted fetches its manager token; a
// manager that was demoted (its label gone, or its token refused) drops
// its credentials; a manager's token is renewed after half its life.
func (m *Manager) WatchRole(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		m.mu.Lock()
		st := m.st
		m.mu.Unlock()
		if st == nil || st.NodeCert == "" {
			continue
		}
		if err := m.checkRole(ctx, st); err != nil && m.cfg.Log != nil {
			m.cfg.Log.Debug("swarm role", "err", err)
		}
	}
}

func (m *Manager) checkRole(ctx context.Context, st *state) error {
	nc, err := m.nodeClient(st)
	if err != nil {
		return err
	}
	n, err := nc.CoreV1().Nodes().Get(ctx, st.NodeID, metav1.GetOptions{})
	if err != nil {
		return err
	}
	_, labelled := n.Labels[labelControlPlane]
	switch {
	case st.Role == roleWorker && labelled:
		tok, exp, err := promotedToken(ctx, nc, st.NodeID)
		if err != nil {
			return fmt.Errorf("promoted, but no manager token yet: %w", err)
		}
		// A manager knows the swarm: its ID and its leader.
		server, ca, err := m.clusterOf()
		if err != nil {
			return err
		}
		rc, err := clientcmd.RESTConfigFromKubeConfig(tokenKubeconfig(server, ca, tok))
		if err != nil {
			return err
		}
		kc, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return err
		}
		ns, err := kc.CoreV1().Namespaces().Get(ctx, SystemNamespace, metav1.GetOptions{})
		if err != nil {
			return err
		}
		next := *st
		next.ClusterID, next.Leader = ID(ns.UID), ns.Annotations[AnnotationLeader]
		if err := m.setRole(st, &next, roleManager, tok, exp); err != nil {
			return err
		}
		// Taken: from now on the token is only in this node's kubeconfig.
		if err := nc.CoreV1().Secrets(SystemNamespace).Delete(ctx, managerAccount(st.NodeID), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) && m.cfg.Log != nil {
			m.cfg.Log.Warn("swarm promote: deleting the manager token left for this node", "err", err)
		}
		return nil
	case st.Role == roleManager && !labelled:
		return m.setRole(st, st, roleWorker, "", time.Time{})
	case st.Role == roleManager:
		kc, err := m.client()
		if err != nil {
			return err
		}
		if _, err := tokenGroups(ctx, kc); apierrors.IsUnauthorized(err) {
			return m.setRole(st, st, roleWorker, "", time.Time{})
		}
		if time.Until(st.TokenExpires) < managerTokenLife/2 {
			tok, exp, err := managerToken(ctx, kc, st.NodeID)
			if err != nil {
				return err
			}
			return m.setRole(st, st, roleManager, tok, exp)
		}
	}
	return nil
}

// removeCredentials deletes the front end's credential and state files.
func (m *Manager) removeCredentials() {
	os.Remove(m.statePath())
	os.Remove(m.kubeconfigPath())
}
