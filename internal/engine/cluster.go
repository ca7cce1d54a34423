package engine

import "context"

// ClusterBackend is the daemon's single-node Kubernetes (internal/cluster)
// as its front ends see it: Berth's /berth/cluster endpoints (berth cluster
// up/down/status/kubeconfig) and, later, swarm init.
type ClusterBackend interface {
	// ClusterUp brings the cluster up and returns when its node is Ready,
	// reporting each step through progress. A running cluster is left as is.
	ClusterUp(ctx context.Context, opts ClusterUpOptions, progress func(string)) error
	// ClusterDown stops the cluster and undoes its changes to the host.
	ClusterDown(ctx context.Context, progress func(string)) error
	ClusterStatus(ctx context.Context) (*ClusterStatus, error)
	// ClusterKubeconfig is the admin kubeconfig (NotFound without a cluster).
	ClusterKubeconfig(ctx context.Context) ([]byte, error)
}

// ClusterUpOptions are per-call choices of `cluster up`.
type ClusterUpOptions struct {
	// RuntimeEndpoint overrides the daemon's CRI socket (another CRI
	// runtime on this host, e.g. for comparisons).
	RuntimeEndpoint string `json:"runtimeEndpoint,omitempty"`
	// NoBuild refuses at once when the Kubernetes binaries are not built,
	// instead of building them (about 10 minutes cold): swarm init sets it.
	NoBuild bool `json:"noBuild,omitempty"`
	// Join makes this daemon a node of another daemon's cluster (swarm
	// join) instead of running a control plane of its own.
	Join *ClusterJoin `json:"join,omitempty"`
}

// ClusterJoin is what a node needs to join a cluster: where its apiserver
// is, the pinned CA, and a bootstrap token for the kubelet's TLS bootstrap.
type ClusterJoin struct {
	// Server is the apiserver's address, HOST:PORT.
	Server string `json:"server"`
	// CAHash is "sha256:" and the hex SHA-256 of the cluster CA's
	// SubjectPublicKeyInfo (kubeadm's discovery-token-ca-cert-hash).
	CAHash string `json:"caHash"`
	// Token is the bootstrap token, ID.SECRET.
	Token string `json:"token"`
}

// ClusterStatus is what `cluster status` reports.
type ClusterStatus struct {
	State      string `json:"state"` // down, starting, running, degraded
	Node       string `json:"node,omitempty"`
	APIServer  string `json:"apiServer,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// NodeCertificate is, on a node that joined another daemon's cluster,
	// the file holding its kubelet's client certificate and key (the
	// node's credential, renewed by the kubelet).
	NodeCertificate string             `json:"nodeCertificate,omitempty"`
	RuntimeEndpoint string             `json:"runtimeEndpoint,omitempty"`
	BinDir          string             `json:"binDir,omitempty"`
	PodSubnet       string             `json:"podSubnet,omitempty"`
	ServiceSubnet   string             `json:"serviceSubnet,omitempty"`
	DNS             string             `json:"dns,omitempty"`
	Bridge          string             `json:"bridge,omitempty"`
	CgroupRoot      string             `json:"cgroupRoot,omitempty"`
	Components      []ClusterComponent `json:"components,omitempty"`
}

// ClusterComponent is one process of the cluster.
type ClusterComponent struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}
