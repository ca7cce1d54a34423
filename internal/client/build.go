package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/build"
)

// ImageBuildOptions are POST /build's parameters and headers.
type ImageBuildOptions struct {
	// Query is the build's parameters (t, dockerfile, buildargs, ...) as
	// docker's CLI encodes them; the CLI and compose each set their own.
	Query url.Values
	// RegistryConfig is X-Registry-Config: base64url JSON of every
	// credential FROM may need; "" sends none.
	RegistryConfig string
}

// ImageBuild is POST /build with the context as a tar (optionally
// gzipped) stream: the daemon's JSON message stream.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, opts ImageBuildOptions) (io.ReadCloser, error) {
	h := http.Header{"Content-Type": {"application/x-tar"}}
	if opts.RegistryConfig != "" {
		h.Set("X-Registry-Config", opts.RegistryConfig)
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/build", Query: opts.Query, Body: buildContext, Headers: h})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// BuildCachePruneOptions is POST /build/prune's query.
type BuildCachePruneOptions struct {
	All         bool
	KeepStorage int64 // bytes; 0 sends none
	Filters     Filters
}

// BuildCachePrune is POST /build/prune.
func (c *Client) BuildCachePrune(ctx context.Context, opts BuildCachePruneOptions) (build.CachePruneReport, error) {
	q := opts.Filters.Query()
	if opts.All {
		q.Set("all", "1")
	}
	if opts.KeepStorage != 0 {
		q.Set("keep-storage", fmt.Sprint(opts.KeepStorage))
	}
	var rep build.CachePruneReport
	err := c.Post(ctx, "/build/prune", q, nil, &rep)
	return rep, err
}
