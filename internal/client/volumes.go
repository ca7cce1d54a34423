package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/volume"
)

// volumePath is "/volumes/{name}".
func volumePath(name string) string { return "/volumes/" + url.PathEscape(name) }

// VolumeCreate is POST /volumes/create.
func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	var v volume.Volume
	err := c.Post(ctx, "/volumes/create", nil, req, &v)
	return v, err
}

// VolumeInspect is GET /volumes/{name}.
func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	v, _, err := c.VolumeInspectWithRaw(ctx, name)
	return v, err
}

// VolumeList is GET /volumes.
func (c *Client) VolumeList(ctx context.Context, f Filters) (volume.ListResponse, error) {
	var list volume.ListResponse
	err := c.Get(ctx, "/volumes", f.Query(), &list)
	return list, err
}

// VolumeRemove is DELETE /volumes/{name}.
func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: volumePath(name), Query: q}, nil)
}

// VolumeInspectWithRaw is VolumeInspect with the daemon's JSON as sent.
func (c *Client) VolumeInspectWithRaw(ctx context.Context, name string) (volume.Volume, json.RawMessage, error) {
	return inspectRaw[volume.Volume](ctx, c, volumePath(name), nil)
}

// VolumesPrune is POST /volumes/prune.
func (c *Client) VolumesPrune(ctx context.Context, f Filters) (volume.PruneReport, error) {
	var rep volume.PruneReport
	err := c.Post(ctx, "/volumes/prune", f.Query(), nil, &rep)
	return rep, err
}
