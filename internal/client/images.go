package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/image"
)

// ImageListOptions is GET /images/json's query.
type ImageListOptions struct {
	All     bool // intermediate images too
	Filters Filters
}

// ImageList is GET /images/json.
func (c *Client) ImageList(ctx context.Context, opts ImageListOptions) ([]image.Summary, error) {
	q := opts.Filters.Query()
	if opts.All {
		q.Set("all", "1")
	}
	var list []image.Summary
	err := c.Get(ctx, "/images/json", q, &list)
	return list, err
}

// ImageInspect is GET /images/{ref}/json.
func (c *Client) ImageInspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	var img image.InspectResponse
	err := c.Get(ctx, "/images/"+ref+"/json", nil, &img)
	return img, err
}

// ImageHistory is GET /images/{ref}/history; q carries the platform
// (API 1.48+) when one is asked for.
func (c *Client) ImageHistory(ctx context.Context, ref string, q url.Values) ([]image.HistoryResponseItem, error) {
	var hist []image.HistoryResponseItem
	err := c.Get(ctx, "/images/"+ref+"/history", q, &hist)
	return hist, err
}

// ImageRemoveOptions is DELETE /images/{ref}'s query.
type ImageRemoveOptions struct {
	Force   bool
	NoPrune bool
}

// ImageRemove is DELETE /images/{ref}.
func (c *Client) ImageRemove(ctx context.Context, ref string, opts ImageRemoveOptions) ([]image.DeleteResponse, error) {
	q := url.Values{}
	if opts.Force {
		q.Set("force", "1")
	}
	if opts.NoPrune {
		q.Set("noprune", "1")
	}
	var resp []image.DeleteResponse
	err := c.Call(ctx, Request{Method: http.MethodDelete, Path: "/images/" + ref, Query: q}, &resp)
	return resp, err
}

// ImagesPrune is POST /images/prune.
func (c *Client) ImagesPrune(ctx context.Context, f Filters) (image.PruneReport, error) {
	var rep image.PruneReport
	err := c.Post(ctx, "/images/prune", f.Query(), nil, &rep)
	return rep, err
}
