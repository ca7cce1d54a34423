package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/cluster/kubecfg"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/google/nftables"
)

// A daemon joins another daemon's cluster as a node (swarm join): it runs
// a kubelet on its own CRI socket, pointed at the other cluster's
// apiserver, and no control plane. The kubelet gets its credentials
// through Kubernetes' TLS bootstrap: it authenticates with a bootstrap
// token, asks for a client certificate (a CSR the controller-manager
// signs with the cluster CA) and then for a serving certificate, whose CSR
// the joining side approves (Kubernetes approves only client CSRs by
// itself). Everything on the host is named after this daemon's data root,
// as for a cluster of its own: node name, kubelet ports, cgroup root, CNI
// bridge and pod subnet.

// RoleNode marks the state of a daemon that joined another's cluster.
const RoleNode = "node"

// ClusterInfoConfigMap is the ConfigMap in kube-public where a control
// plane tells joining nodes what their kubelet needs (the pods' DNS server
// and domain). Joining nodes read it with their bootstrap token.
const ClusterInfoConfigMap = "berth-cluster-info"

// ErrBadToken is returned, wrapped, for a bootstrap token the apiserver
// does not accept.
var ErrBadToken = errors.New("invalid join token")

// apiClient is a small REST client of an apiserver (the cluster package
// links no client-go).
type apiClient struct {
	base  string
	c     *http.Client
	token string
}

func (a apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodPatch {
			req.Header.Set("Content-Type", "application/merge-patch+json")
		}
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// tokenClient talks to server (https://HOST:PORT) trusting caPEM, with a
// bootstrap token.
func tokenClient(server string, caPEM []byte, token string) apiClient {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}
	return apiClient{base: server, token: token, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// api is the client `up`, `status` and `down` use for st's cluster: the
// admin certificate on a control plane; on a node the node's own client
// certificate once its kubelet has one (the join token may be rotated
// away), the bootstrap token before.
func (m *Manager) api(st *State) apiClient {
	if st.Role == RoleNode {
		ca, _ := os.ReadFile(m.layout.pki().CA())
		if cert := m.NodeCertificate(); fileExists(cert) {
			return apiClient{base: st.APIServer(), c: m.httpsClient(cert, cert)}
		}
		return tokenClient(st.APIServer(), ca, st.Token)
	}
	pki := m.layout.pki()
	return apiClient{base: st.APIServer(), c: m.httpsClient(pki.Cert("admin"), pki.Key("admin"))}
}

// clusterInfo is the data of ClusterInfoConfigMap.
type clusterInfo struct {
	DNS           string `json:"dns"`
	ClusterDomain string `json:"clusterDomain"`
	ServiceSubnet string `json:"serviceSubnet"`
}

// publishClusterInfo writes ClusterInfoConfigMap for joining nodes.
func (m *Manager) publishClusterInfo(ctx context.Context, st *State) error {
	cm := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": ClusterInfoConfigMap, "namespace": "kube-public"},
		"data": map[string]string{"dns": st.Subnets.Gateway().String(), "clusterDomain": "cluster.local",
			"serviceSubnet": st.Subnets.Services.String()},
	}
	a := m.api(st)
	code, err := a.do(ctx, http.MethodPost, "/api/v1/namespaces/kube-public/configmaps", cm, nil)
	if code == http.StatusConflict {
		_, err = a.do(ctx, http.MethodPut, "/api/v1/namespaces/kube-public/configmaps/"+ClusterInfoConfigMap, cm, nil)
	}
	if err != nil {
		return fmt.Errorf("publish the cluster's join information: %w", err)
	}
	return nil
}

// join makes this daemon a node of the cluster opts.Join names. Nothing on
// the host changes before the manager has proved its identity (the pinned
// CA) and accepted the token.
func (m *Manager) join(ctx context.Context, prev *State, opts UpOptions, progress func(string)) (err error) {
	j := opts.Join
	if prev != nil {
		if prev.Phase == "running" && m.allAlive(prev) {
			if prev.Role == RoleNode {
				return errdefs.Conflictf("this daemon is already a node of the cluster at %s", prev.APIServer())
			}
			return errdefs.Conflictf("this daemon runs a cluster of its own (berth cluster up): bring it down before joining another")
		}
		progress("clearing the remains of an earlier cluster")
		if err := m.teardown(ctx, prev, true); err != nil {
			return fmt.Errorf("clear the earlier cluster: %w", err)
		}
	}
	tokenID, _, ok := strings.Cut(j.Token, ".")
	if !ok || tokenID == "" {
		return errdefs.Invalid(ErrBadToken)
	}
	caPEM, err := kubecfg.DiscoverCA(ctx, j.Server, j.CAHash)
	if err != nil {
		if errors.Is(err, kubecfg.ErrCAMismatch) {
			return errdefs.Invalid(fmt.Errorf("%w: %v", ErrBadToken, err))
		}
		return errdefs.Unavailable(err)
	}
	server := "https://" + j.Server
	api := tokenClient(server, caPEM, j.Token)
	var cm struct {
		Data clusterInfo `json:"data"`
	}
	code, err := api.do(ctx, http.MethodGet, "/api/v1/namespaces/kube-public/configmaps/"+ClusterInfoConfigMap, nil, &cm)
	switch {
	case code == http.StatusUnauthorized:
		return errdefs.Invalid(fmt.Errorf("%w: the manager does not accept it", ErrBadToken))
	case code == http.StatusNotFound:
		return errdefs.Invalid(fmt.Errorf("the cluster at %s has no %s/%s: it was not made by a Berth daemon", j.Server, "kube-public", ClusterInfoConfigMap))
	case err != nil:
		return errdefs.Unavailable(err)
	}
	if net.ParseIP(cm.Data.DNS) == nil {
		return fmt.Errorf("the cluster's join information names no DNS server: %+v", cm.Data)
	}
	if code, _ := api.do(ctx, http.MethodGet, "/api/v1/nodes/"+m.id.NodeName, nil, nil); code == http.StatusOK {
		return errdefs.Conflictf("a node named %s is already in the cluster: remove it there (docker node rm %s) first", m.id.NodeName, m.id.NodeName)
	}

	endpoint := opts.RuntimeEndpoint
	if endpoint == "" {
		endpoint = m.cfg.RuntimeEndpoint
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "unix://" + endpoint
	}
	binDir, err := ensureBinaries(ctx, m.cfg.KubeCache, !opts.NoBuild, progress)
	if err != nil {
		return err
	}
	if err := m.preflightNode(); err != nil {
		return err
	}
	if err := checkRuntime(ctx, endpoint); err != nil {
		return fmt.Errorf("the container runtime does not answer on %s (%v): start berthd with its CRI server", endpoint, err)
	}
	confDir := runtimeCNIConfDir(ctx, endpoint)
	if confDir == "" {
		confDir = m.cfg.CNIConfDir
	}
	sn, err := m.id.pickSubnets()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.layout.dir, 0o700); err != nil {
		return err
	}
	os.RemoveAll(m.layout.path("logs"))
	t0 := time.Now()
	st := &State{Phase: "starting", Role: RoleNode, Server: server, Token: j.Token, DNS: cm.Data.DNS,
		RuntimeEndpoint: endpoint, CNIConfDir: confDir, BinDir: binDir, Subnets: Subnets{Pods: sn.Pods},
		Ports: m.id.Ports, NodeName: m.id.NodeName, Sysctls: readSysctls(), Started: time.Now()}
	if err := m.save(st); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			progress("joining failed: undoing it")
			if terr := m.teardown(context.WithoutCancel(ctx), st, false); terr != nil {
				err = fmt.Errorf("%w\n(and undoing it: %v)", err, terr)
			}
		}
	}()
	if err := m.writeNodeConfigs(st, caPEM, cm.Data); err != nil {
		return err
	}
	if err := m.prepareHost(ctx, st, progress); err != nil {
		return err
	}
	l := m.layout
	kubelet := component{name: "kubelet", bin: filepath.Join(binDir, "kubelet"), timeout: 90 * time.Second, args: []string{
		"--config=" + l.path("kubelet-config.json"),
		"--bootstrap-kubeconfig=" + l.kubeconfig("bootstrap-kubelet"), "--kubeconfig=" + l.kubeconfig("kubelet"),
		"--root-dir=" + l.kubeletRoot(), "--cert-dir=" + l.path("kubelet-certs"),
		"--hostname-override=" + st.NodeName, "--node-ip=" + st.Subnets.Gateway().String(), "--v=1",
	}}
	kubelet.ready = func(ctx context.Context) error {
		return httpExpect(ctx, &http.Client{}, "http://127.0.0.1:"+strconv.Itoa(m.id.Ports.KubeletHealth)+"/healthz", "ok")
	}
	// The kubelet's CSRs are approved while it starts: its client
	// certificate first (it cannot register the node without one), then
	// its serving certificate (the apiserver reaches it with that).
	actx, stopApprover := context.WithCancel(ctx)
	approved := make(chan struct{})
	go func() { defer close(approved); m.approveCSRs(actx, api, st.NodeName, tokenID) }()
	defer func() { stopApprover(); <-approved }()
	if err := m.startGroup(ctx, st, []component{kubelet}, progress); err != nil {
		return err
	}
	progress("waiting for node " + st.NodeName + " to be Ready")
	if err := waitFor(ctx, st.proc("kubelet"), l.logFile("kubelet"), 120*time.Second, func(ctx context.Context) error { return m.nodeReady(ctx, st) }); err != nil {
		return err
	}
	// kube-proxy programs the host's netfilter for every Service; where
	// the cluster's own kube-proxy already runs on this host (a second
	// daemon on the manager's machine), this host is served and a second
	// one would fight it over the "ip kube-proxy" table.
	if !nftTableExists(nftables.TableFamilyIPv4, "kube-proxy") {
		proxy := component{name: "kube-proxy", bin: filepath.Join(binDir, "kube-proxy"), timeout: 60 * time.Second,
			args: []string{"--config=" + l.path("kube-proxy-config.json"), "--v=1"},
			ready: func(ctx context.Context) error {
				return httpExpect(ctx, &http.Client{}, "http://127.0.0.1:"+strconv.Itoa(m.id.Ports.ProxyMetrics)+"/healthz", "ok")
			}}
		if err := m.startGroup(ctx, st, []component{proxy}, progress); err != nil {
			return err
		}
	} else {
		progress("kube-proxy: this host's netfilter is served by the cluster's kube-proxy already running here")
	}
	// The serving certificate may come a moment after Ready.
	waitServing := time.Now().Add(30 * time.Second)
	for time.Now().Before(waitServing) {
		if _, err := os.Stat(filepath.Join(l.path("kubelet-certs"), "kubelet-server-current.pem")); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	st.Phase = "running"
	if err := m.save(st); err != nil {
		return err
	}
	progress(fmt.Sprintf("node %s joined the cluster at %s, Ready after %.1f s", st.NodeName, server, time.Since(t0).Seconds()))
	return nil
}

// preflightNode checks what a node needs from the host (a subset of a
// control plane's needs).
func (m *Manager) preflightNode() error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "berthd must run as root to run a kubelet")
	}
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(m.cfg.CNIBinDir, p)); err != nil {
			problems = append(problems, fmt.Sprintf("CNI plugin %s is missing in %s: apt-get install containernetworking-plugins", p, m.cfg.CNIBinDir))
			break
		}
	}
	for _, p := range []int{m.id.Ports.Kubelet, m.id.Ports.KubeletHealth} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			problems = append(problems, fmt.Sprintf("port %d (kubelet) is in use", p))
			continue
		}
		l.Close()
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot join the cluster:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return nil
}

func nftTableExists(family nftables.TableFamily, name string) bool {
	conn, err := nftables.New()
	if err != nil {
		return false
	}
	tables, err := conn.ListTablesOfFamily(family)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if t.Name == name {
			return true
		}
	}
	return false
}

// writeNodeConfigs writes a node's CA, the kubelet's bootstrap kubeconfig
// and the kubelet's and kube-proxy's configurations.
func (m *Manager) writeNodeConfigs(st *State, caPEM []byte, info clusterInfo) error {
	l, pki := m.layout, m.layout.pki()
	for _, d := range []string{pki.Dir, l.path("kubeconfig")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(pki.CA(), caPEM, 0o644); err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	boot := map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"clusters":        []any{map[string]any{"name": ContextName, "cluster": map[string]any{"server": st.Server, "certificate-authority-data": b64(caPEM)}}},
		"users":           []any{map[string]any{"name": "kubelet-bootstrap", "user": map[string]any{"token": st.Token}}},
		"contexts":        []any{map[string]any{"name": ContextName, "context": map[string]any{"cluster": ContextName, "user": "kubelet-bootstrap"}}},
		"current-context": ContextName,
	}
	kubelet := m.kubeletConfig(st, info.DNS)
	if info.ClusterDomain != "" {
		kubelet["clusterDomain"] = info.ClusterDomain
	}
	// No serving certificate is made here: the kubelet asks the cluster
	// for one (a CSR for the kubelet-serving signer) and renews its
	// certificates the same way.
	kubelet["serverTLSBootstrap"] = true
	kubelet["rotateCertificates"] = true
	proxy := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"mode":               "nftables",
		"clientConnection":   map[string]any{"kubeconfig": l.kubeconfig("kubelet")},
		"hostnameOverride":   st.NodeName,
		"clusterCIDR":        st.Subnets.Pods.String(),
		"bindAddress":        "127.0.0.1",
		"healthzBindAddress": fmt.Sprintf("127.0.0.1:%d", m.id.Ports.ProxyHealth),
		"metricsBindAddress": fmt.Sprintf("127.0.0.1:%d", m.id.Ports.ProxyMetrics),
		"conntrack":          map[string]any{"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
	}
	for path, v := range map[string]any{l.kubeconfig("bootstrap-kubelet"): boot, l.path("kubelet-config.json"): kubelet, l.path("kube-proxy-config.json"): proxy} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// approveCSRs approves, until ctx ends, the pending certificate requests
// of this node's kubelet: the client certificate it asks for with the
// bootstrap token (user system:bootstrap:ID) and the serving certificate it
// asks for as the node, each only for the subject Kubernetes prescribes
// for node nodeName.
func (m *Manager) approveCSRs(ctx context.Context, api apiClient, nodeName, tokenID string) {
	type csr struct {
		Metadata map[string]any `json:"metadata"`
		Spec     struct {
			Request    string   `json:"request"`
			SignerName string   `json:"signerName"`
			Username   string   `json:"username"`
			Usages     []string `json:"usages"`
		} `json:"spec"`
		Status struct {
			Conditions []map[string]any `json:"conditions"`
		} `json:"status"`
	}
	for {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if _, err := api.do(ctx, http.MethodGet, "/apis/certificates.k8s.io/v1/certificatesigningrequests", nil, &list); err == nil {
			for _, raw := range list.Items {
				var c csr
				var obj map[string]any
				if json.Unmarshal(raw, &c) != nil || json.Unmarshal(raw, &obj) != nil || len(c.Status.Conditions) > 0 {
					continue
				}
				var okUser bool
				switch c.Spec.SignerName {
				case "kubernetes.io/kube-apiserver-client-kubelet":
					okUser = c.Spec.Username == "system:bootstrap:"+tokenID || c.Spec.Username == "system:node:"+nodeName
				case "kubernetes.io/kubelet-serving":
					okUser = c.Spec.Username == "system:node:"+nodeName
				}
				if !okUser || !csrSubjectIs(c.Spec.Request, "system:node:"+nodeName) {
					continue
				}
				name, _ := c.Metadata["name"].(string)
				obj["status"] = map[string]any{"conditions": []any{map[string]any{
					"type": "Approved", "status": "True", "reason": "BerthSwarmJoin",
					"message": "approved by the joining Berth daemon for node " + nodeName,
				}}}
				if _, err := api.do(ctx, http.MethodPut, "/apis/certificates.k8s.io/v1/certificatesigningrequests/"+name+"/approval", obj, nil); err != nil {
					m.log.Debug("approve CSR", "name", name, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// csrSubjectIs checks a CSR's common name and that it asks as a node
// (organization system:nodes).
func csrSubjectIs(requestB64, cn string) bool {
	der, err := base64.StdEncoding.DecodeString(requestB64)
	if err != nil {
		return false
	}
	blk, _ := pem.Decode(der)
	if blk == nil {
		return false
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || req.Subject.CommonName != cn {
		return false
	}
	return len(req.Subject.Organization) == 1 && req.Subject.Organization[0] == "system:nodes"
}

// NodeCertificate is the file (certificate and key) of the client
// certificate a joined node's kubelet got by its TLS bootstrap and keeps
// renewing: the node's credential (system:node:NAME).
func (m *Manager) NodeCertificate() string {
	return filepath.Join(m.layout.path("kubelet-certs"), "kubelet-client-current.pem")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
