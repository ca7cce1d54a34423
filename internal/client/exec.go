package client

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/container"
)

// ExecCreate is POST /containers/{id}/exec.
func (c *Client) ExecCreate(ctx context.Context, id string, req container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	var created container.ExecCreateResponse
	err := c.Post(ctx, "/containers/"+id+"/exec", nil, req, &created)
	return created, err
}

// ExecStart is POST /exec/{id}/start for a detached exec (start.Detach).
func (c *Client) ExecStart(ctx context.Context, id string, start container.ExecStartRequest) error {
	return c.Post(ctx, "/exec/"+id+"/start", nil, start, nil)
}

// ExecAttach is POST /exec/{id}/start with the connection hijacked for
// the exec's streams.
func (c *Client) ExecAttach(ctx context.Context, id string, start container.ExecStartRequest) (*HijackedConn, error) {
	return c.Hijack(ctx, Request{Method: http.MethodPost, Path: "/exec/" + id + "/start", JSON: start})
}

// ExecInspect is GET /exec/{id}/json.
func (c *Client) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	var r container.ExecInspectResponse
	err := c.Get(ctx, "/exec/"+id+"/json", nil, &r)
	return r, err
}

// ExecResize is POST /exec/{id}/resize.
func (c *Client) ExecResize(ctx context.Context, id string, height, width uint) error {
	return c.Post(ctx, "/exec/"+id+"/resize", resizeQuery(height, width), nil, nil)
}
