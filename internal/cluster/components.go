package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// component is one process of the cluster: how to start it and how to
// know it is ready.
type component struct {
	name  string
	bin   string
	args  []string
	ready func(ctx context.Context) error
	// timeout for ready; the apiserver's first start (etcd schema, RBAC
	// bootstrap) is the slowest.
	timeout time.Duration
}

// layout is where a cluster keeps its files under <data-root>/cluster.
type layout struct{ dir string }

func (l layout) path(p ...string) string { return filepath.Join(append([]string{l.dir}, p...)...) }
func (l layout) state() string           { return l.path("state.json") }
func (l layout) pki() PKI                { return PKI{Dir: l.path("pki")} }
func (l layout) kubeconfig(u string) string {
	return l.path("kubeconfig", u+".kubeconfig")
}
func (l layout) logFile(name string) string { return l.path("logs", name+".log") }
func (l layout) kubeletRoot() string        { return l.path("kubelet") }
func (l layout) podLogs() string            { return l.path("pod-logs") }
func (l layout) ipamDir() string            { return l.path("cni", "ipam") }

// AdminKubeconfig is the admin kubeconfig `up` writes.
func (l layout) AdminKubeconfig() string { return l.kubeconfig("admin") }

// writeConfigs writes the PKI, the kubeconfigs and the components' config
// files for st.
func (m *Manager) writeConfigs(st *State) error {
	l := m.layout
	pki := l.pki()
	if err := pki.Generate(m.id, st.Subnets); err != nil {
		return err
	}
	if err := os.MkdirAll(l.path("kubeconfig"), 0o700); err != nil {
		return err
	}
	server := st.APIServer()
	for _, u := range []string{"admin", "kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns"} {
		b, err := pki.kubeconfig(server, u)
		if err != nil {
			return err
		}
		if err := os.WriteFile(l.kubeconfig(u), b, 0o600); err != nil {
			return err
		}
	}
	gw := st.Subnets.Gateway().String()
	kubelet := m.kubeletConfig(st, gw)
	kubelet["tlsCertFile"] = pki.Cert("kubelet-serving")
	kubelet["tlsPrivateKeyFile"] = pki.Key("kubelet-serving")
	proxy := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"mode":               "nftables",
		"clientConnection":   map[string]any{"kubeconfig": l.kubeconfig("kube-proxy")},
		"hostnameOverride":   m.id.NodeName,
		"clusterCIDR":        st.Subnets.Pods.String(),
		"bindAddress":        "127.0.0.1",
		"healthzBindAddress": fmt.Sprintf("127.0.0.1:%d", m.id.Ports.ProxyHealth),
		"metricsBindAddress": fmt.Sprintf("127.0.0.1:%d", m.id.Ports.ProxyMetrics),
		// 0 leaves the host's conntrack settings alone.
		"conntrack": map[string]any{"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
	}
	for name, v := range map[string]any{"kubelet-config.json": kubelet, "kube-proxy-config.json": proxy} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(l.path(name), b, 0o600); err != nil {
			return err
		}
	}
	// CoreDNS runs on the host (see docs/architecture.md) and answers the
	// pods on the bridge's address, which is the kubelet's clusterDNS.
	corefile := fmt.Sprintf(`.:53 {
    bind %s
    errors
    ready 127.0.0.1:%d
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    forward . /etc/resolv.conf
    cache 5
    loop
}
`, gw, m.id.Ports.DNSReady, l.kubeconfig("coredns"))
	return os.WriteFile(l.path("Corefile"), []byte(corefile), 0o600)
}

// kubeletConfig is the kubelet's configuration on this daemon's CRI, with
// the pods' DNS server at dns; the caller adds how it gets its serving
// certificate.
func (m *Manager) kubeletConfig(st *State, dns string) map[string]any {
	l, pki := m.layout, m.layout.pki()
	gw := st.Subnets.Gateway().String()
	return map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		// The node's address is the bridge's (the kubelet refuses a
		// loopback node IP); the apiserver reaches the kubelet there.
		"address":                  gw,
		"port":                     m.id.Ports.Kubelet,
		"readOnlyPort":             0,
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              m.id.Ports.KubeletHealth,
		"containerRuntimeEndpoint": st.RuntimeEndpoint,
		"authentication":           map[string]any{"anonymous": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}, "x509": map[string]any{"clientCAFile": pki.CA()}},
		// The kubelet asks the apiserver whether a caller may (a node's
		// certificate is not a key to every other node's pods).
		"authorization":                 map[string]any{"mode": "Webhook"},
		"cgroupDriver":                  "cgroupfs",
		"cgroupRoot":                    m.id.CgroupRoot,
		"cgroupsPerQOS":                 true,
		"enforceNodeAllocatable":        []string{},
		"failSwapOn":                    false,
		"failCgroupV1":                  false,
		"localStorageCapacityIsolation": false,
		"resolvConf":                    "/etc/resolv.conf",
		"clusterDomain":                 "cluster.local",
		"clusterDNS":                    []string{dns},
		"rotateCertificates":            false,
		"serverTLSBootstrap":            false,
		"evictionHard":                  map[string]string{"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		"imageGCHighThresholdPercent":   100,
		"imageGCLowThresholdPercent":    99,
		"makeIPTablesUtilChains":        false,
		"podLogsDir":                    l.podLogs(),
		"staticPodPath":                 "",
	}
}

// components lists the processes in start order. Each group starts after
// the previous one is ready; members of a group start together.
func (m *Manager) components(st *State) [][]component {
	l, pki, p, bin := m.layout, m.layout.pki(), m.id.Ports, st.BinDir
	lo := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	etcdURL := "https://" + lo(p.EtcdClient)
	admin := m.httpsClient(pki.Cert("admin"), pki.Key("admin"))
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // healthz of a self-signed serving cert
	plain := &http.Client{}
	okBody := func(c *http.Client, url, want string) func(context.Context) error {
		return func(ctx context.Context) error { return httpExpect(ctx, c, url, want) }
	}
	common := []string{"--v=1"}
	return [][]component{
		{{name: "etcd", bin: filepath.Join(bin, "etcd"), timeout: 60 * time.Second, args: []string{
			"--name", m.id.NodeName, "--data-dir", l.path("etcd"),
			"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
			"--listen-peer-urls", "https://" + lo(p.EtcdPeer), "--initial-advertise-peer-urls", "https://" + lo(p.EtcdPeer),
			"--initial-cluster", m.id.NodeName + "=https://" + lo(p.EtcdPeer),
			"--listen-metrics-urls", "http://" + lo(p.EtcdMetrics),
			"--cert-file", pki.Cert("etcd"), "--key-file", pki.Key("etcd"), "--client-cert-auth", "--trusted-ca-file", pki.CA(),
			"--peer-cert-file", pki.Cert("etcd"), "--peer-key-file", pki.Key("etcd"), "--peer-client-cert-auth", "--peer-trusted-ca-file", pki.CA(),
			"--snapshot-count", "10000", "--log-level", "warn",
		}, ready: okBody(plain, "http://"+lo(p.EtcdMetrics)+"/health", `"health":"true"`)}},
		{{name: "kube-apiserver", bin: filepath.Join(bin, "kube-apiserver"), timeout: 120 * time.Second, args: append([]string{
			"--etcd-servers=" + etcdURL, "--etcd-cafile=" + pki.CA(),
			"--etcd-certfile=" + pki.Cert("apiserver-etcd-client"), "--etcd-keyfile=" + pki.Key("apiserver-etcd-client"),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(p.APIServer),
			"--tls-cert-file=" + pki.Cert("apiserver"), "--tls-private-key-file=" + pki.Key("apiserver"),
			"--client-ca-file=" + pki.CA(), "--anonymous-auth=false",
			// kubeadm's choice: kubelets get what the Node authorizer allows
			// their node, everyone else what RBAC grants (rbac.go), so a
			// join token is not a credential for the whole cluster.
			"--authorization-mode=Node,RBAC",
			// ...and, as kubeadm enables it, NodeRestriction confines a
			// kubelet's writes to its own Node (no node-role labels, no
			// taints) and the pods bound to it, and refuses it tokens
			// not bound to such a pod.
			"--enable-admission-plugins=NodeRestriction",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + filepath.Join(pki.Dir, "sa.pub"), "--service-account-signing-key-file=" + pki.Key("sa"),
			"--service-cluster-ip-range=" + st.Subnets.Services.String(),
			"--kubelet-client-certificate=" + pki.Cert("apiserver-kubelet-client"), "--kubelet-client-key=" + pki.Key("apiserver-kubelet-client"),
			"--kubelet-certificate-authority=" + pki.CA(),
			"--kubelet-preferred-address-types=InternalIP,Hostname",
			"--cert-dir=" + l.path("apiserver-certs"), "--enable-priority-and-fairness=false",
			// Joining nodes (swarm join) authenticate with a bootstrap
			// token for their kubelet's TLS bootstrap.
			"--enable-bootstrap-token-auth",
		}, common...), ready: okBody(admin, "https://"+lo(p.APIServer)+"/readyz", "ok")}},
		{
			{name: "kube-controller-manager", bin: filepath.Join(bin, "kube-controller-manager"), timeout: 60 * time.Second, args: append([]string{
				"--kubeconfig=" + l.kubeconfig("kube-controller-manager"),
				"--authentication-kubeconfig=" + l.kubeconfig("kube-controller-manager"),
				"--authorization-kubeconfig=" + l.kubeconfig("kube-controller-manager"),
				"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(p.ControllerMgr),
				"--service-account-private-key-file=" + pki.Key("sa"), "--root-ca-file=" + pki.CA(),
				// Each controller acts as its own service account, whose
				// bootstrap RBAC role grants what it needs.
				"--use-service-account-credentials=true", "--controllers=*",
				// Signs the client and serving certificates of joining
				// kubelets (their CSRs) with the cluster CA.
				"--cluster-signing-cert-file=" + pki.CA(), "--cluster-signing-key-file=" + pki.Key("ca"),
				"--cert-dir=" + l.path("kcm-certs"),
			}, common...), ready: okBody(insecure, "https://"+lo(p.ControllerMgr)+"/healthz", "ok")},
			{name: "kube-scheduler", bin: filepath.Join(bin, "kube-scheduler"), timeout: 60 * time.Second, args: append([]string{
				"--kubeconfig=" + l.kubeconfig("kube-scheduler"),
				"--authentication-kubeconfig=" + l.kubeconfig("kube-scheduler"),
				"--authorization-kubeconfig=" + l.kubeconfig("kube-scheduler"),
				"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(p.Scheduler),
				"--cert-dir=" + l.path("scheduler-certs"),
			}, common...), ready: okBody(insecure, "https://"+lo(p.Scheduler)+"/healthz", "ok")},
			{name: "kubelet", bin: filepath.Join(bin, "kubelet"), timeout: 90 * time.Second, args: append([]string{
				"--config=" + l.path("kubelet-config.json"), "--kubeconfig=" + l.kubeconfig("kubelet"),
				"--root-dir=" + l.kubeletRoot(), "--cert-dir=" + l.path("kubelet-certs"),
				"--hostname-override=" + m.id.NodeName, "--node-ip=" + st.Subnets.Gateway().String(),
			}, common...), ready: okBody(plain, "http://"+lo(p.KubeletHealth)+"/healthz", "ok")},
			{name: "kube-proxy", bin: filepath.Join(bin, "kube-proxy"), timeout: 60 * time.Second, args: append([]string{
				"--config=" + l.path("kube-proxy-config.json"),
			}, common...), ready: okBody(plain, "http://"+lo(p.ProxyMetrics)+"/healthz", "ok")},
			{name: "coredns", bin: filepath.Join(bin, "coredns"), timeout: 60 * time.Second, args: []string{
				"-conf", l.path("Corefile"),
			}, ready: okBody(plain, "http://"+lo(p.DNSReady)+"/ready", "OK")},
		},
	}
}

// httpsClient trusts the cluster CA and presents a client certificate.
func (m *Manager) httpsClient(cert, key string) *http.Client {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca, err := os.ReadFile(m.layout.pki().CA()); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tc.RootCAs = pool
	}
	if kp, err := tls.LoadX509KeyPair(cert, key); err == nil {
		tc.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func httpExpect(ctx context.Context, c *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// nodeReady asks the apiserver whether the node's Ready condition is True.
func (m *Manager) nodeReady(ctx context.Context, st *State) error {
	var node struct {
		Status struct {
			Conditions []struct{ Type, Status, Reason, Message string }
		}
	}
	if _, err := m.api(st).do(ctx, http.MethodGet, "/api/v1/nodes/"+st.NodeName, nil, &node); err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status == "True" {
				return nil
			}
			return fmt.Errorf("node %s not Ready: %s %s", st.NodeName, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", st.NodeName)
}

// labelControlPlane marks the node as kubeadm marks its first node, with
// node-role.kubernetes.io/control-plane: the kubelet may not set
// node-role labels on itself (NodeRestriction), and swarm's view of the
// node (manager, Leader) reads that role.
func (m *Manager) labelControlPlane(ctx context.Context, st *State) error {
	pki := m.layout.pki()
	c := m.httpsClient(pki.Cert("admin"), pki.Key("admin"))
	body := strings.NewReader(`{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, st.APIServer()+"/api/v1/nodes/"+m.id.NodeName, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("label node %s: %w", m.id.NodeName, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("label node %s: %s: %s", m.id.NodeName, resp.Status, msg)
	}
	return nil
}
