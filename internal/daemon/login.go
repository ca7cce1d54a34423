package daemon

import (
	"context"

	"github.com/moby/moby/api/types/registry"
)

// Login serves POST /auth: the credentials are checked against the
// registry and not kept (the CLI writes them to its config.json).
func (d *Daemon) Login(ctx context.Context, cfg *registry.AuthConfig) (*registry.AuthResponse, error) {
	if err := d.registries.Login(ctx, cfg.ServerAddress, cfg.Username, cfg.Password); err != nil {
		return nil, err
	}
	return &registry.AuthResponse{Status: "Login Succeeded"}, nil
}
