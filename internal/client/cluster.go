package client

import (
	"context"
	"io"
	"net/http"
)

// Berth's extension endpoints for the daemon's own Kubernetes cluster
// (`berth cluster`, and swarm init and join through berth-swarm). They are
// not part of the Engine API; docker clients never call them.

// ClusterUpOptions is the body of POST /berth/cluster/up.
type ClusterUpOptions struct {
	// RuntimeEndpoint runs the kubelet on another CRI socket than berthd's.
	RuntimeEndpoint string `json:"runtimeEndpoint,omitempty"`
	// NoBuild makes the daemon refuse at once when the Kubernetes binaries
	// are not built, instead of building them.
	NoBuild bool `json:"noBuild,omitempty"`
	// Join makes the daemon a node of another daemon's cluster.
	Join *ClusterJoin `json:"join,omitempty"`
}

// ClusterJoin names the cluster a node joins: its apiserver (HOST:PORT),
// the pinned CA ("sha256:<hex of its SubjectPublicKeyInfo>") and a
// bootstrap token (ID.SECRET).
type ClusterJoin struct {
	Server string `json:"server"`
	CAHash string `json:"caHash"`
	Token  string `json:"token"`
}

// ClusterStatus is GET /berth/cluster's answer.
type ClusterStatus struct {
	State           string             `json:"state"` // down, starting, running, degraded
	Node            string             `json:"node"`
	APIServer       string             `json:"apiServer"`
	Kubeconfig      string             `json:"kubeconfig"`
	NodeCertificate string             `json:"nodeCertificate,omitempty"`
	RuntimeEndpoint string             `json:"runtimeEndpoint"`
	BinDir          string             `json:"binDir"`
	PodSubnet       string             `json:"podSubnet"`
	ServiceSubnet   string             `json:"serviceSubnet"`
	DNS             string             `json:"dns"`
	Bridge          string             `json:"bridge"`
	CgroupRoot      string             `json:"cgroupRoot"`
	Components      []ClusterComponent `json:"components"`
}

// ClusterComponent is one process of the cluster.
type ClusterComponent struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}

// ClusterUp asks the daemon to bring its cluster up and returns the
// progress stream (JSON messages as a pull's, an error message last if it
// fails after the answer started).
func (c *Client) ClusterUp(ctx context.Context, opts ClusterUpOptions) (io.ReadCloser, error) {
	return c.clusterStream(ctx, "/berth/cluster/up", opts)
}

// ClusterDown asks the daemon to remove its cluster; the answer is a
// progress stream as ClusterUp's.
func (c *Client) ClusterDown(ctx context.Context) (io.ReadCloser, error) {
	return c.clusterStream(ctx, "/berth/cluster/down", nil)
}

func (c *Client) clusterStream(ctx context.Context, path string, body any) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: path, JSON: body})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ClusterStatus reads the cluster's status (404 from a daemon without
// cluster support: not berthd, or an older one).
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	var st ClusterStatus
	if err := c.Get(ctx, "/berth/cluster", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ClusterKubeconfig fetches the cluster's admin kubeconfig (404 while
// there is no cluster).
func (c *Client) ClusterKubeconfig(ctx context.Context) ([]byte, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/berth/cluster/kubeconfig"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
