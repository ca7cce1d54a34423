// Package clusters is the engine's cluster backend: `berth cluster
// up/down/status/kubeconfig` (/berth/cluster/...) over the manager of the
// daemon's single-node Kubernetes (internal/cluster). The manager asks
// the other backends for nothing but an image load, handed over in
// cmd/berthd; it reaches the containers through the CRI socket, like
// any kubelet.
package clusters

import (
	"context"
	"errors"

	"github.com/berth-project/berth/internal/cluster"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
)

// Backend implements engine.ClusterBackend.
type Backend struct {
	m *cluster.Manager
}

var _ engine.ClusterBackend = (*Backend)(nil)

// New serves the cluster of m. One manager per daemon, so every client
// of the API sees the same cluster.
func New(m *cluster.Manager) *Backend { return &Backend{m: m} }

// ClusterUp serves POST /berth/cluster/up.
func (b *Backend) ClusterUp(ctx context.Context, opts engine.ClusterUpOptions, progress func(string)) error {
	return b.m.Up(ctx, opts, progress)
}

// ClusterDown serves POST /berth/cluster/down, and runs on the daemon's
// shutdown before its containers stop, so no kubelet restarts the pods
// being stopped.
func (b *Backend) ClusterDown(ctx context.Context, progress func(string)) error {
	return b.m.Down(ctx, progress)
}

// ClusterStatus serves GET /berth/cluster.
func (b *Backend) ClusterStatus(ctx context.Context) (*engine.ClusterStatus, error) {
	return b.m.Status(ctx)
}

// ClusterKubeconfig serves GET /berth/cluster/kubeconfig: NotFound while
// no cluster runs.
func (b *Backend) ClusterKubeconfig(ctx context.Context) ([]byte, error) {
	k, err := b.m.Kubeconfig()
	if errors.Is(err, cluster.ErrNotRunning) {
		return nil, errdefs.NotFound(err)
	}
	return k, err
}
