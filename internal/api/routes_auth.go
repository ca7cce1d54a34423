package api

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/registry"
)

// AuthBackend serves POST /auth (docker login).
type AuthBackend interface {
	// Login checks the credentials against the registry; the client
	// stores them, the daemon does not.
	Login(ctx context.Context, cfg *registry.AuthConfig) (*registry.AuthResponse, error)
}

// registerAuth adds POST /auth when the backend can log in.
func (s *Server) registerAuth(rt *router) {
	ab, ok := s.b.(AuthBackend)
	if !ok {
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
