package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/container"
)

// The container endpoints that stream: attach, logs, stats, the archive
// (docker cp) and export. Each answers the body (or the hijacked
// connection) for the caller to read and close.

// ContainerAttachOptions is POST /containers/{id}/attach's query.
type ContainerAttachOptions struct {
	Stream, Logs          bool
	Stdin, Stdout, Stderr bool
	DetachKeys            string
}

func (o ContainerAttachOptions) query() url.Values {
	q := url.Values{}
	for k, on := range map[string]bool{"stream": o.Stream, "logs": o.Logs, "stdin": o.Stdin, "stdout": o.Stdout, "stderr": o.Stderr} {
		if on {
			q.Set(k, "1")
		}
	}
	if o.DetachKeys != "" {
		q.Set("detachKeys", o.DetachKeys)
	}
	return q
}

// ContainerAttach is POST /containers/{id}/attach with the connection
// hijacked for the container's streams.
func (c *Client) ContainerAttach(ctx context.Context, id string, opts ContainerAttachOptions) (*HijackedConn, error) {
	return c.Hijack(ctx, Request{Method: http.MethodPost, Path: "/containers/" + id + "/attach", Query: opts.query()})
}

// ContainerStats is GET /containers/{id}/stats: one container.StatsResponse,
// or with stream a JSON stream of them, one a second.
func (c *Client) ContainerStats(ctx context.Context, id string, stream bool) (io.ReadCloser, error) {
	q := url.Values{"stream": {"0"}}
	if stream {
		q.Set("stream", "1")
	}
	return c.stream(ctx, "/containers/"+id+"/stats", q)
}

// ContainerExport is GET /containers/{id}/export: the filesystem as a tar.
func (c *Client) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	return c.stream(ctx, "/containers/"+id+"/export", nil)
}

func archivePath(id string) string { return "/containers/" + id + "/archive" }

// ContainerStatPath is HEAD /containers/{id}/archive: what is at path.
func (c *Client) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodHead, Path: archivePath(id), Query: url.Values{"path": {path}}})
	if err != nil {
		return container.PathStat{}, err
	}
	resp.Body.Close()
	return pathStat(resp.Header)
}

// CopyFromContainer is GET /containers/{id}/archive: a tar of path, and
// what path is.
func (c *Client) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: archivePath(id), Query: url.Values{"path": {path}}})
	if err != nil {
		return nil, container.PathStat{}, err
	}
	st, err := pathStat(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, st, err
	}
	return resp.Body, st, nil
}

// CopyToContainerOptions is PUT /containers/{id}/archive's query.
type CopyToContainerOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
}

// CopyToContainer is PUT /containers/{id}/archive: extracts the tar
// content into the directory path.
func (c *Client) CopyToContainer(ctx context.Context, id, path string, content io.Reader, opts CopyToContainerOptions) error {
	q := url.Values{"path": {path}}
	if opts.NoOverwriteDirNonDir {
		q.Set("noOverwriteDirNonDir", "true")
	}
	if opts.CopyUIDGID {
		q.Set("copyUIDGID", "true")
	}
	return c.Call(ctx, Request{Method: http.MethodPut, Path: archivePath(id), Query: q, Body: content,
		Headers: http.Header{"Content-Type": {"application/x-tar"}}}, nil)
}

// pathStat decodes the archive endpoints' X-Docker-Container-Path-Stat.
func pathStat(h http.Header) (container.PathStat, error) {
	var st container.PathStat
	raw, err := base64.StdEncoding.DecodeString(h.Get("X-Docker-Container-Path-Stat"))
	if err != nil {
		return st, fmt.Errorf("unable to decode container path stat header: %w", err)
	}
	return st, json.Unmarshal(raw, &st)
}
