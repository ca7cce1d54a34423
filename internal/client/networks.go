package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/network"
)

// NetworkCreate is POST /networks/create.
func (c *Client) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	var resp network.CreateResponse
	err := c.Post(ctx, "/networks/create", nil, req, &resp)
	return resp, err
}

// NetworkInspect is GET /networks/{id}.
func (c *Client) NetworkInspect(ctx context.Context, name string) (network.Inspect, error) {
	var n network.Inspect
	err := c.Get(ctx, "/networks/"+url.PathEscape(name), nil, &n)
	return n, err
}

// NetworkList is GET /networks.
func (c *Client) NetworkList(ctx context.Context, f Filters) ([]network.Summary, error) {
	var list []network.Summary
	err := c.Get(ctx, "/networks", f.Query(), &list)
	return list, err
}

// NetworkRemove is DELETE /networks/{id}.
func (c *Client) NetworkRemove(ctx context.Context, name string) error {
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/networks/" + url.PathEscape(name)}, nil)
}

// NetworkConnect is POST /networks/{id}/connect.
func (c *Client) NetworkConnect(ctx context.Context, name string, req network.ConnectRequest) error {
	return c.Post(ctx, "/networks/"+url.PathEscape(name)+"/connect", nil, req, nil)
}

// NetworkDisconnect is POST /networks/{id}/disconnect.
func (c *Client) NetworkDisconnect(ctx context.Context, name string, req network.DisconnectRequest) error {
	return c.Post(ctx, "/networks/"+url.PathEscape(name)+"/disconnect", nil, req, nil)
}
