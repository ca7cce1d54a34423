package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/jsonstream"
)

// registerCluster adds Berth's extension endpoints for the daemon's
// single-node Kubernetes (/berth/cluster...) when it has one. They are not
// part of the Engine API; the docker CLI never calls them.
func (s *Server) registerCluster(rt *router) {
	cb := s.be.Cluster
	if cb == nil {
		return
	}
	rt.get("/berth/cluster", func(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
		st, err := cb.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, st)
	})
	rt.get("/berth/cluster/kubeconfig", func(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
		b, err := cb.ClusterKubeconfig(ctx)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(b)
		return err
	})
	// up and down stream progress like a pull: {"status": "..."} lines,
	// then {"error": ...} if it fails after the answer started.
	rt.post("/berth/cluster/up", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		var opts engine.ClusterUpOptions
		if r.ContentLength != 0 && r.Body != nil {
			if err := json.NewDecoder(r.Body).Decode(&opts); err != nil && err.Error() != "EOF" {
				return errdefs.Invalidf("invalid cluster options: %v", err)
			}
		}
		return progressStream(w, func(js *jsonstream.Writer) error {
			return cb.ClusterUp(ctx, opts, func(line string) { js.Status("", line) })
		})
	})
	rt.post("/berth/cluster/down", func(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
		return progressStream(w, func(js *jsonstream.Writer) error {
			return cb.ClusterDown(ctx, func(line string) { js.Status("", line) })
		})
	})
}
