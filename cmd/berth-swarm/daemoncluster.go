package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/berth-project/berth/internal/swarm"
)

// daemonCluster is the swarm's ClusterControl over berthd's own cluster
// (`berth cluster up`), reached through its /berth/cluster endpoints with
// the Engine API client. It lives here, where the front end is wired,
// because the swarm front end itself imports no client.
type daemonCluster struct {
	c *client.Client
}

var _ swarm.ClusterControl = (*daemonCluster)(nil)

// newDaemonCluster talks to the berthd listening on the unix socket path.
func newDaemonCluster(socket string) (*daemonCluster, error) {
	c, err := client.New("unix://" + socket)
	if err != nil {
		return nil, err
	}
	return &daemonCluster{c: c}, nil
}

// Up brings the daemon's cluster up and returns its admin kubeconfig and
// the name of the daemon's node. It never builds the Kubernetes binaries:
// without them the daemon refuses at once and says to run `make kube`.
func (d *daemonCluster) Up(ctx context.Context) ([]byte, string, error) {
	if err := follow(d.c.ClusterUp(ctx, client.ClusterUpOptions{NoBuild: true})); err != nil {
		return nil, "", err
	}
	kubeconfig, err := d.c.ClusterKubeconfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("cluster kubeconfig: %w", classify(err))
	}
	// The node's name, when the status says it.
	var name string
	if st, err := d.c.ClusterStatus(ctx); err == nil {
		name = st.Node
	}
	return kubeconfig, name, nil
}

// Join makes the daemon a node of the cluster j names and returns its
// node. Like Up it never builds the Kubernetes binaries.
func (d *daemonCluster) Join(ctx context.Context, j engine.ClusterJoin) (swarm.JoinedNode, error) {
	opts := client.ClusterUpOptions{NoBuild: true, Join: &client.ClusterJoin{Server: j.Server, CAHash: j.CAHash, Token: j.Token}}
	if err := follow(d.c.ClusterUp(ctx, opts)); err != nil {
		return swarm.JoinedNode{}, err
	}
	st, err := d.c.ClusterStatus(ctx)
	if err != nil {
		return swarm.JoinedNode{}, classify(err)
	}
	if st.Node == "" {
		return swarm.JoinedNode{}, errors.New("the daemon's cluster status names no node")
	}
	return swarm.JoinedNode{Name: st.Node, Certificate: st.NodeCertificate}, nil
}

// Down brings the daemon's cluster down.
func (d *daemonCluster) Down(ctx context.Context) error {
	return follow(d.c.ClusterDown(ctx))
}

// follow reads an up or down progress stream to its end and returns the
// error it carries, if any.
func follow(body io.ReadCloser, err error) error {
	if err != nil {
		return classify(err)
	}
	defer body.Close()
	return jsonstream.Decode(body, nil)
}

// classify hands the daemon's error class on to the swarm's own client,
// with the daemon's message alone (docker prefixes its own words).
func classify(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return err
	}
	msg := errors.New(ce.Message)
	switch ce.StatusCode {
	case http.StatusNotFound:
		return errors.New("this daemon has no Kubernetes cluster support (berth cluster)")
	case http.StatusBadRequest:
		return errdefs.Invalid(msg)
	case http.StatusConflict:
		return errdefs.Conflict(msg)
	case http.StatusServiceUnavailable:
		return errdefs.Unavailable(msg)
	}
	return msg
}
