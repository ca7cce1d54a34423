package daemon

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/berth-project/berth/internal/cluster"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
)

// initCluster makes the manager of this daemon's single-node Kubernetes
// (berth cluster up/down/status; swarm init will use it too). The daemon
// owns it so every client of the API gets the same cluster.
func (d *Daemon) initCluster() {
	endpoint := d.cfg.CRIEndpoint
	if endpoint == "" {
		endpoint = "unix://" + filepath.Join(d.cfg.ExecRoot, "cri.sock")
	}
	pause, _ := besideSelf("berth-pause")
	d.cluster = cluster.New(cluster.Config{
		DataRoot:        d.cfg.DataRoot,
		RuntimeEndpoint: endpoint,
		CNIConfDir:      d.cfg.CNIConfDir,
		PauseBinary:     pause,
		LoadImage:       d.cfg.LoadImage,
		Logger:          d.log.With("component", "cluster"),
	})
}

// ClusterUp serves POST /berth/cluster/up.
func (d *Daemon) ClusterUp(ctx context.Context, opts engine.ClusterUpOptions, progress func(string)) error {
	return d.cluster.Up(ctx, opts, progress)
}

// ClusterDown serves POST /berth/cluster/down.
func (d *Daemon) ClusterDown(ctx context.Context, progress func(string)) error {
	return d.cluster.Down(ctx, progress)
}

// ClusterStatus serves GET /berth/cluster.
func (d *Daemon) ClusterStatus(ctx context.Context) (*engine.ClusterStatus, error) {
	return d.cluster.Status(ctx)
}

// ClusterKubeconfig serves GET /berth/cluster/kubeconfig.
func (d *Daemon) ClusterKubeconfig(ctx context.Context) ([]byte, error) {
	b, err := d.cluster.Kubeconfig()
	if errors.Is(err, cluster.ErrNotRunning) {
		return nil, errdefs.NotFound(err)
	}
	return b, err
}
