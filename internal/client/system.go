package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// ServerVersion is GET /version.
func (c *Client) ServerVersion(ctx context.Context) (system.VersionResponse, error) {
	var v system.VersionResponse
	err := c.Get(ctx, "/version", nil, &v)
	return v, err
}

// Info is GET /info.
func (c *Client) Info(ctx context.Context) (system.Info, error) {
	info, _, err := c.InfoWithRaw(ctx)
	return info, err
}

// InfoWithRaw is Info with the daemon's JSON as sent, for templates that
// name fields the moby type lacks.
func (c *Client) InfoWithRaw(ctx context.Context) (system.Info, json.RawMessage, error) {
	return inspectRaw[system.Info](ctx, c, "/info", nil)
}

// DiskUsage is GET /system/df's body up to API 1.51 (the versions this
// client speaks): the objects themselves, from which df sums its rows.
type DiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

// DiskUsage is GET /system/df.
func (c *Client) DiskUsage(ctx context.Context) (DiskUsage, error) {
	var du DiskUsage
	err := c.Get(ctx, "/system/df", nil, &du)
	return du, err
}

// EventsOptions is GET /events' query; Since and Until are the daemon's
// timestamps ("unix-seconds[.nanoseconds]").
type EventsOptions struct {
	Since, Until string
	Filters      Filters
}

// Events is GET /events: a stream of JSON events.Message, endless unless
// Until is set; the caller closes it.
func (c *Client) Events(ctx context.Context, opts EventsOptions) (io.ReadCloser, error) {
	q := opts.Filters.Query()
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/events", Query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RegistryLogin is POST /auth: the daemon checks the credentials with the
// registry and may hand back an identity token.
func (c *Client) RegistryLogin(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	var resp registry.AuthResponse
	err := c.Post(ctx, "/auth", nil, auth, &resp)
	return resp, err
}
