package client

import (
	"context"

	"github.com/moby/moby/api/types/system"
)

// ServerVersion is GET /version.
func (c *Client) ServerVersion(ctx context.Context) (system.VersionResponse, error) {
	var v system.VersionResponse
	err := c.Get(ctx, "/version", nil, &v)
	return v, err
}

// Info is GET /info.
func (c *Client) Info(ctx context.Context) (system.Info, error) {
	var info system.Info
	err := c.Get(ctx, "/info", nil, &info)
	return info, err
}
