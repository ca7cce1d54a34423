package swarm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/cluster/kubecfg"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/swarm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Join tokens. A swarm join token names what a node needs to join the
// swarm's Kubernetes cluster as a node, in swarm's shape:
//
//	SWMTKN-1-<CA hash>-<token ID>-<token secret>
//
// <CA hash> is the hex SHA-256 of the cluster CA's SubjectPublicKeyInfo
// (kubeadm's discovery-token-ca-cert-hash without "sha256:"), and <token
// ID>.<token secret> is a Kubernetes bootstrap token (6 and 16 characters
// of [a-z0-9]), a Secret bootstrap-token-<ID> in kube-system. The
// apiserver's address is the join command's HOST:PORT, which `docker swarm
// join-token` prints as the manager's address (node inspect's
// ManagerStatus.Addr). The joining node checks that the server at that
// address presents a CA with the hash before it sends the token.
const (
	tokenPrefix = "SWMTKN-1-"
	// LabelJoinRole marks a bootstrap token Secret as the swarm's worker
	// or manager join token.
	LabelJoinRole = "berth.swarm/join-role"
	roleWorker    = "worker"
	roleManager   = "manager"
)

var tokenRE = regexp.MustCompile(`^SWMTKN-1-([0-9a-f]{64})-([a-z0-9]{6})-([a-z0-9]{16})$`)

// JoinToken is a parsed swarm join token.
type JoinToken struct {
	CAHash string // "sha256:<hex>"
	ID     string
	Secret string
}

// ParseJoinToken reads a token in the format above.
func ParseJoinToken(s string) (JoinToken, error) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return JoinToken{}, errdefs.Invalidf("invalid join token")
	}
	return JoinToken{CAHash: "sha256:" + m[1], ID: m[2], Secret: m[3]}, nil
}

// Bootstrap is the Kubernetes bootstrap token, ID.SECRET.
func (t JoinToken) Bootstrap() string { return t.ID + "." + t.Secret }

func (t JoinToken) String() string {
	return tokenPrefix + strings.TrimPrefix(t.CAHash, "sha256:") + "-" + t.ID + "-" + t.Secret
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b)
}

// clusterAccess is the cluster CA's hash and the apiserver's HOST:PORT, from
// the swarm's kubeconfig.
func (m *Manager) clusterAccess() (caHash, addr string, err error) {
	cfg, err := clientcmd.LoadFromFile(m.kubeconfigPath())
	if err != nil {
		return "", "", err
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		return "", "", errors.New("swarm kubeconfig has no current context")
	}
	cl := cfg.Clusters[ctx.Cluster]
	if cl == nil {
		return "", "", errors.New("swarm kubeconfig has no cluster")
	}
	ca := cl.CertificateAuthorityData
	if len(ca) == 0 && cl.CertificateAuthority != "" {
		if ca, err = os.ReadFile(cl.CertificateAuthority); err != nil {
			return "", "", err
		}
	}
	if len(ca) == 0 {
		return "", "", errors.New("swarm kubeconfig names no certificate authority")
	}
	if caHash, err = kubecfg.CAHash(ca); err != nil {
		return "", "", err
	}
	u, err := url.Parse(cl.Server)
	if err != nil {
		return "", "", err
	}
	addr = u.Host
	if u.Port() == "" {
		addr += ":443"
	}
	return caHash, addr, nil
}

// managerAddr is what node inspect reports as the manager's address: the
// apiserver's, which is where `swarm join` goes.
func (m *Manager) managerAddr() string {
	if _, addr, err := m.clusterAccess(); err == nil {
		return addr
	}
	return ""
}

// joinTokens returns the swarm's join tokens, making the bootstrap token
// Secrets the first time (or again after a rotation removed one).
func (m *Manager) joinTokens(ctx context.Context, kc kubernetes.Interface) (swarm.JoinTokens, error) {
	caHash, _, err := m.clusterAccess()
	if err != nil {
		return swarm.JoinTokens{}, err
	}
	if m.RunsControlPlane() || m.initializing() {
		// The leader holds the cluster's admin credentials; a joined
		// manager's role cannot (and need not) write roles.
		if err := m.ensureSwarmRBAC(ctx, kc); err != nil {
			return swarm.JoinTokens{}, fmt.Errorf("managers' roles: %w", err)
		}
	}
	var out swarm.JoinTokens
	for _, role := range []string{roleWorker, roleManager} {
		tok, err := m.ensureBootstrapToken(ctx, kc, role)
		if err != nil {
			return swarm.JoinTokens{}, err
		}
		tok.CAHash = caHash
		if role == roleWorker {
			out.Worker = tok.String()
		} else {
			out.Manager = tok.String()
		}
	}
	return out, nil
}

func (m *Manager) ensureBootstrapToken(ctx context.Context, kc kubernetes.Interface, role string) (JoinToken, error) {
	l, err := kc.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{LabelSelector: LabelJoinRole + "=" + role})
	if err != nil {
		return JoinToken{}, kubeErr(err)
	}
	for _, s := range l.Items {
		if id, sec := string(s.Data["token-id"]), string(s.Data["token-secret"]); id != "" && sec != "" {
			return JoinToken{ID: id, Secret: sec}, nil
		}
	}
	tok := JoinToken{ID: randomToken(6), Secret: randomToken(16)}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + tok.ID, Namespace: "kube-system",
			Labels: map[string]string{LabelManaged: "true", LabelJoinRole: role}},
		Type: corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"description": "swarm " + role + " join token (docker swarm join-token " + role + ")",
			"token-id":    tok.ID, "token-secret": tok.Secret,
			"usage-bootstrap-authentication": "true",
			"auth-extra-groups":              "system:bootstrappers:berth-swarm:" + role,
		},
	}
	if _, err := kc.CoreV1().Secrets("kube-system").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return JoinToken{}, kubeErr(err)
	}
	return tok, nil
}

// rotateToken removes a role's bootstrap token: nodes that joined with it
// keep their certificates; the next inspect makes a new one.
func (m *Manager) rotateToken(ctx context.Context, kc kubernetes.Interface, role string) error {
	return kubeErr(kc.CoreV1().Secrets("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: LabelJoinRole + "=" + role}))
}

// tokenKubeconfig is a kubeconfig for server with a bearer token.
func tokenKubeconfig(server string, caPEM []byte, token string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"clusters":        []any{map[string]any{"name": "swarm", "cluster": map[string]any{"server": server, "certificate-authority-data": b64(caPEM)}}},
		"users":           []any{map[string]any{"name": "swarm-node", "user": map[string]any{"token": token}}},
		"contexts":        []any{map[string]any{"name": "swarm", "context": map[string]any{"cluster": "swarm", "user": "swarm-node"}}},
		"current-context": "swarm",
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// certKubeconfig is a kubeconfig for server with a client certificate and
// key in one file (a kubelet's, which the kubelet renews in place).
func certKubeconfig(server string, caPEM []byte, certFile string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"clusters":        []any{map[string]any{"name": "swarm", "cluster": map[string]any{"server": server, "certificate-authority-data": b64(caPEM)}}},
		"users":           []any{map[string]any{"name": "swarm-node", "user": map[string]any{"client-certificate": certFile, "client-key": certFile}}},
		"contexts":        []any{map[string]any{"name": "swarm", "context": map[string]any{"cluster": "swarm", "user": "swarm-node"}}},
		"current-context": "swarm",
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// saveState writes the front end's credential (0600) and state.
func (m *Manager) saveState(st *state, kubeconfig []byte) error {
	if err := atomicfile.Write(m.kubeconfigPath(), kubeconfig, 0o600); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	return atomicfile.Write(m.statePath(), b, 0o600)
}

// SwarmJoin makes this daemon a node of the swarm's cluster: it checks the
// manager's identity against the token's CA hash and the token against the
// apiserver, then has its daemon run a kubelet joined with the bootstrap
// token. With the manager token it then makes itself a manager (see
// managers.go). Nothing changes on this host before those checks pass.
func (m *Manager) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error {
	if len(req.RemoteAddrs) == 0 {
		return errdefs.Invalidf("at least 1 RemoteAddr is required to join")
	}
	tok, err := ParseJoinToken(req.JoinToken)
	if err != nil {
		return err
	}
	if m.cfg.Cluster == nil {
		return errdefs.NotImplemented(errors.New("this daemon cannot run a kubelet (no berth cluster support)"))
	}
	addr := req.RemoteAddrs[0]
	if !strings.Contains(addr, ":") {
		addr += ":2377"
	}
	caPEM, err := kubecfg.DiscoverCA(ctx, addr, tok.CAHash)
	if err != nil {
		if errors.Is(err, kubecfg.ErrCAMismatch) {
			return errdefs.Invalidf("invalid join token: %v", err)
		}
		return errdefs.Unavailable(fmt.Errorf("could not reach the manager: %w", err))
	}
	server := "https://" + addr
	rc, err := clientcmd.RESTConfigFromKubeConfig(tokenKubeconfig(server, caPEM, tok.Bootstrap()))
	if err != nil {
		return err
	}
	rc.Timeout = 10 * time.Second
	var kc kubernetes.Interface
	if kc, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	// The apiserver says which token this is by the groups it gives it.
	groups, err := tokenGroups(ctx, kc)
	switch {
	case apierrors.IsUnauthorized(err):
		return errdefs.Invalidf("invalid join token: the swarm does not accept it (unknown, or rotated away by docker swarm join-token --rotate)")
	case err != nil:
		return errdefs.Unavailable(fmt.Errorf("could not reach the manager: %w", err))
	}
	role := ""
	for _, g := range groups {
		switch g {
		case groupWorkerTokens:
			role = roleWorker
		case groupManagerTokens:
			role = roleManager
		}
	}
	if role == "" {
		return errdefs.Invalidf("invalid join token: it is not one of the swarm's join tokens")
	}
	if err := os.MkdirAll(m.cfg.StateDir, 0o700); err != nil {
		return err
	}
	joined, err := m.cfg.Cluster.Join(ctx, engine.ClusterJoin{Server: addr, CAHash: tok.CAHash, Token: tok.Bootstrap()})
	if err != nil {
		return err
	}
	st := &state{NodeID: joined.Name, NodeCert: joined.Certificate, Role: roleWorker, CreatedAt: time.Now().UTC()}
	tokenKC := kc
	fail := func(err error) error {
		if role == roleManager {
			// The join token may undo what it did.
			revokeManager(context.WithoutCancel(ctx), tokenKC, st.NodeID, false)
		}
		m.cfg.Cluster.Down(context.WithoutCancel(ctx))
		m.removeCredentials()
		return err
	}
	if st.NodeCert == "" {
		return fail(errors.New("the daemon's cluster status names no node certificate"))
	}
	kubeconfig := certKubeconfig(server, caPEM, st.NodeCert)
	if role == roleManager {
		if err := grantManager(ctx, kc, st.NodeID, false); err != nil {
			return fail(fmt.Errorf("joining as a manager: %w", kubeErr(err)))
		}
		token, exp, err := managerToken(ctx, kc, st.NodeID)
		if err != nil {
			return fail(fmt.Errorf("joining as a manager: %w", kubeErr(err)))
		}
		kubeconfig = tokenKubeconfig(server, caPEM, token)
		st.Role, st.TokenExpires = roleManager, exp
		// From here on the node acts with its own manager credentials.
		if rc, err = clientcmd.RESTConfigFromKubeConfig(kubeconfig); err == nil {
			kc, err = kubernetes.NewForConfig(rc)
		}
		if err != nil {
			return fail(err)
		}
		patch := []byte(`{"metadata":{"labels":{"` + labelControlPlane + `":""}}}`)
		if _, err := kc.CoreV1().Nodes().Patch(ctx, st.NodeID, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fail(fmt.Errorf("joining as a manager: %w", kubeErr(err)))
		}
		ns, err := kc.CoreV1().Namespaces().Get(ctx, SystemNamespace, metav1.GetOptions{})
		if err != nil {
			return fail(fmt.Errorf("joining as a manager: %w", kubeErr(err)))
		}
		st.ClusterID, st.Leader = ID(ns.UID), ns.Annotations[AnnotationLeader]
	} else {
		nc, err := nodeClientFor(server, caPEM, st.NodeCert)
		if err != nil {
			return fail(err)
		}
		kc = nc
	}
	if n, err := kc.CoreV1().Nodes().Get(ctx, st.NodeID, metav1.GetOptions{}); err == nil {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				st.NodeAddr = a.Address
			}
		}
	}
	if err := m.saveState(st, kubeconfig); err != nil {
		return fail(err)
	}
	m.mu.Lock()
	m.st, m.kc = st, nil
	m.mu.Unlock()
	return nil
}

// leaveWorker takes this node out of the swarm as a worker's leave does in
// swarm: its tasks stop here (their pods are deleted, so the manager's
// Deployments start them on other nodes at once), the kubelet stops and
// the daemon undoes everything it did on the host. The Node stays in the
// cluster, Down, until `docker node rm` on the manager removes it.
func (m *Manager) leaveWorker(ctx context.Context, st *state, kc kubernetes.Interface) error {
	if kc != nil {
		node := st.NodeID
		patch := []byte(`{"spec":{"unschedulable":true}}`)
		if _, err := kc.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err == nil {
			sel := metav1.ListOptions{FieldSelector: "spec.nodeName=" + node}
			// The node's credential may delete the pods bound to it
			// (NodeRestriction), and only those.
			if pods, err := kc.CoreV1().Pods("").List(ctx, sel); err == nil {
				for _, p := range pods.Items {
					if err := kc.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) && m.cfg.Log != nil {
						m.cfg.Log.Warn("swarm leave: deleting a task's pod", "pod", p.Namespace+"/"+p.Name, "err", err)
					}
				}
			}
			// The kubelet stops them (grace periods apply); what is left
			// after half a minute goes with the runtime's sandboxes below.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				pods, err := kc.CoreV1().Pods("").List(ctx, sel)
				if err != nil || len(pods.Items) == 0 {
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	if err := m.cfg.Cluster.Down(ctx); err != nil {
		return err
	}
	if kc != nil {
		// Down at once instead of after the node monitor's grace period.
		now := metav1.Now()
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{map[string]any{
			"type": "Ready", "status": "Unknown", "reason": "NodeLeftSwarm", "message": "the node left the swarm",
			"lastHeartbeatTime": now, "lastTransitionTime": now,
		}}}})
		kc.CoreV1().Nodes().PatchStatus(ctx, st.NodeID, patch)
	}
	return nil
}
