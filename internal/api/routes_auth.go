package api

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/registry"
)

// registerAuth adds POST /auth when the server has an auth backend.
func (s *Server) registerAuth(rt *router) {
	ab := s.be.Auth
	if ab == nil {
		return
	}
	rt.post("/auth", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		var cfg registry.AuthConfig
		if err := decodeJSON(r, &cfg, false); err != nil {
			return err
		}
		resp, err := ab.Login(ctx, &cfg)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, resp)
	})
}
