package cluster

import (
	"context"
	"fmt"
	"net/http"
)

// The apiserver authorizes with Node,RBAC (kubeadm's choice): a kubelet
// may do what the Node authorizer allows its own node, every other client
// what Kubernetes' bootstrap roles and the objects below grant it. The
// control plane's certificates carry the identities those roles name
// (pki.go), so only what kubeadm adds by hand is added here:
//
//   - a bootstrap token (any: swarm's worker and manager tokens are both
//     in group system:bootstrappers) may ask for a kubelet client
//     certificate, which the controller manager then approves by itself,
//     and do what the joining daemon does for its node: read the cluster's
//     join information, read Nodes (is the name taken, is it Ready) and
//     approve the kubelet's serving certificate request;
//   - a node may renew its own client certificate and run kube-proxy;
//   - CoreDNS (user system:coredns) may read what it serves.
//
// A bootstrap token therefore yields no more than a node's credentials.
const (
	groupBootstrappers = "system:bootstrappers"
	groupNodes         = "system:nodes"
)

func rbacObjects() []struct {
	path string // the collection to POST to
	name string
	obj  map[string]any
} {
	rule := func(groups []string, resources []string, verbs []string, names ...string) map[string]any {
		r := map[string]any{"apiGroups": groups, "resources": resources, "verbs": verbs}
		if len(names) > 0 {
			r["resourceNames"] = names
		}
		return r
	}
	meta := func(name string) map[string]any {
		return map[string]any{"name": name, "labels": map[string]string{"berth.cluster/rbac": "true"}}
	}
	clusterRole := func(name string, rules ...map[string]any) map[string]any {
		return map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules}
	}
	binding := func(kind, name, roleKind, role, subjectKind, subject string) map[string]any {
		return map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta(name),
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": roleKind, "name": role},
			"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": subjectKind, "name": subject}}}
	}
	const (
		crs   = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
		crbs  = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
		roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/roles"
		rbs   = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/rolebindings"
	)
	core, certs, disc := []string{""}, []string{"certificates.k8s.io"}, []string{"discovery.k8s.io"}
	type obj = struct {
		path string
		name string
		obj  map[string]any
	}
	return []obj{
		{crbs, "berth:kubelet-bootstrap", binding("ClusterRoleBinding", "berth:kubelet-bootstrap", "ClusterRole", "system:node-bootstrapper", "Group", groupBootstrappers)},
		{crbs, "berth:node-autoapprove-bootstrap", binding("ClusterRoleBinding", "berth:node-autoapprove-bootstrap", "ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "Group", groupBootstrappers)},
		{crbs, "berth:node-autoapprove-certificate-rotation", binding("ClusterRoleBinding", "berth:node-autoapprove-certificate-rotation", "ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "Group", groupNodes)},
		{crs, "berth:node-joiner", clusterRole("berth:node-joiner",
			rule(core, []string{"nodes"}, []string{"get"}),
			rule(certs, []string{"certificatesigningrequests/approval"}, []string{"update"}),
			rule(certs, []string{"signers"}, []string{"approve"}, "kubernetes.io/kubelet-serving"))},
		{crbs, "berth:node-joiner", binding("ClusterRoleBinding", "berth:node-joiner", "ClusterRole", "berth:node-joiner", "Group", groupBootstrappers)},
		{roles, "berth:cluster-info-reader", map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("berth:cluster-info-reader"),
			"rules": []any{rule(core, []string{"configmaps"}, []string{"get"}, ClusterInfoConfigMap)}}},
		{rbs, "berth:cluster-info-reader", binding("RoleBinding", "berth:cluster-info-reader", "Role", "berth:cluster-info-reader", "Group", groupBootstrappers)},
		{crbs, "berth:node-proxier", binding("ClusterRoleBinding", "berth:node-proxier", "ClusterRole", "system:node-proxier", "Group", groupNodes)},
		{crs, "berth:coredns", clusterRole("berth:coredns",
			rule(core, []string{"endpoints", "services", "pods", "namespaces"}, []string{"list", "watch"}),
			rule(disc, []string{"endpointslices"}, []string{"list", "watch"}))},
		{crbs, "berth:coredns", binding("ClusterRoleBinding", "berth:coredns", "ClusterRole", "berth:coredns", "User", "system:coredns")},
	}
}

// applyRBAC writes the objects above with the admin certificate; it runs
// once the apiserver is ready and before the components that need them.
func (m *Manager) applyRBAC(ctx context.Context, st *State) error {
	a := m.api(st)
	for _, o := range rbacObjects() {
		code, err := a.do(ctx, http.MethodPost, o.path, o.obj, nil)
		if code == http.StatusConflict {
			_, err = a.do(ctx, http.MethodPut, o.path+"/"+o.name, o.obj, nil)
		}
		if err != nil {
			return fmt.Errorf("authorization for joining nodes and CoreDNS: %w", err)
		}
	}
	return nil
}
