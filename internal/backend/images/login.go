package images

import (
	"context"

	"github.com/moby/moby/api/types/registry"
)

// Login serves POST /auth: the credentials are checked against the
// registry and not kept (the CLI writes them to its config.json).
func (b *Backend) Login(ctx context.Context, cfg *registry.AuthConfig) (*registry.AuthResponse, error) {
	if err := b.registries.Login(ctx, cfg.ServerAddress, cfg.Username, cfg.Password); err != nil {
		return nil, err
	}
	return &registry.AuthResponse{Status: "Login Succeeded"}, nil
}
