package swarm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
)

// DaemonCluster is ClusterControl over a berthd socket: the daemon's
// single-node Kubernetes (`berth cluster up`), through its
// /berth/cluster endpoints.
type DaemonCluster struct {
	client *http.Client
}

// NewDaemonCluster talks to the berthd listening on the unix socket path.
func NewDaemonCluster(socket string) *DaemonCluster {
	return &DaemonCluster{client: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}}
}

// stream posts to a progress endpoint and returns its error message, if
// the stream carries one.
func (c *DaemonCluster) stream(ctx context.Context, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://berthd"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errors.New("this daemon has no Kubernetes cluster support (berth cluster)")
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = fmt.Sprintf("%s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		err := errors.New(m.Message)
		// The daemon's error class goes on to the swarm's client.
		switch resp.StatusCode {
		case http.StatusBadRequest:
			return errdefs.Invalid(err)
		case http.StatusConflict:
			return errdefs.Conflict(err)
		case http.StatusServiceUnavailable:
			return errdefs.Unavailable(err)
		}
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && (m.Error != "" || m.ErrorDetail.Message != "") {
			if m.Error == "" {
				m.Error = m.ErrorDetail.Message
			}
			return errors.New(m.Error)
		}
	}
	return sc.Err()
}

// Up brings the daemon's cluster up and returns its admin kubeconfig and
// the name of the daemon's node. It never builds the Kubernetes binaries:
// without them the daemon refuses at once and says to run `make kube`.
func (c *DaemonCluster) Up(ctx context.Context) ([]byte, string, error) {
	if err := c.stream(ctx, "/berth/cluster/up", map[string]any{"noBuild": true}); err != nil {
		return nil, "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://berthd/berth/cluster/kubeconfig", nil)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	kubeconfig, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("cluster kubeconfig: %d %v", resp.StatusCode, err)
	}
	// The node's name, when the status says it.
	var st map[string]any
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://berthd/berth/cluster", nil)
	if resp, err := c.client.Do(req); err == nil {
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
	}
	name, _ := st["node"].(string)
	return kubeconfig, name, nil
}

// Join makes the daemon a node of the cluster j names and returns its
// node's name. Like Up it never builds the Kubernetes binaries.
func (c *DaemonCluster) Join(ctx context.Context, j engine.ClusterJoin) (string, error) {
	if err := c.stream(ctx, "/berth/cluster/up", map[string]any{"noBuild": true, "join": j}); err != nil {
		return "", err
	}
	var st struct {
		Node string `json:"node"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://berthd/berth/cluster", nil)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Node == "" {
		return "", fmt.Errorf("the daemon's cluster status names no node (%v)", err)
	}
	return st.Node, nil
}

// Down brings the daemon's cluster down.
func (c *DaemonCluster) Down(ctx context.Context) error {
	return c.stream(ctx, "/berth/cluster/down", nil)
}
