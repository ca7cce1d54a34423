package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/volume"
)

// VolumeCreate is POST /volumes/create.
func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	var v volume.Volume
	err := c.Post(ctx, "/volumes/create", nil, req, &v)
	return v, err
}

// VolumeInspect is GET /volumes/{name}.
func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	var v volume.Volume
	err := c.Get(ctx, "/volumes/"+url.PathEscape(name), nil, &v)
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
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/volumes/" + url.PathEscape(name), Query: q}, nil)
}
