package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/network"
)

// networkPath is "/networks/{id}" plus rest.
func networkPath(name, rest string) string { return "/networks/" + url.PathEscape(name) + rest }

// NetworkCreate is POST /networks/create.
func (c *Client) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	var resp network.CreateResponse
	err := c.Post(ctx, "/networks/create", nil, req, &resp)
	return resp, err
}

// NetworkInspect is GET /networks/{id}.
func (c *Client) NetworkInspect(ctx context.Context, name string) (network.Inspect, error) {
	n, _, err := c.NetworkInspectWithRaw(ctx, name)
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
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: networkPath(name, "")}, nil)
}

// NetworkConnect is POST /networks/{id}/connect.
func (c *Client) NetworkConnect(ctx context.Context, name string, req network.ConnectRequest) error {
	return c.Post(ctx, networkPath(name, "/connect"), nil, req, nil)
}

// NetworkDisconnect is POST /networks/{id}/disconnect.
func (c *Client) NetworkDisconnect(ctx context.Context, name string, req network.DisconnectRequest) error {
	return c.Post(ctx, networkPath(name, "/disconnect"), nil, req, nil)
}

// NetworkInspectWithRaw is NetworkInspect with the daemon's JSON as sent.
func (c *Client) NetworkInspectWithRaw(ctx context.Context, name string) (network.Inspect, json.RawMessage, error) {
	return inspectRaw[network.Inspect](ctx, c, networkPath(name, ""), nil)
}

// NetworksPrune is POST /networks/prune.
func (c *Client) NetworksPrune(ctx context.Context, f Filters) (network.PruneReport, error) {
	var rep network.PruneReport
	err := c.Post(ctx, "/networks/prune", f.Query(), nil, &rep)
	return rep, err
}
