package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/container"
)

// Container and image references go into paths unescaped, as docker's own
// client sends them (an image name's slashes are part of the route).

// ContainerListOptions is GET /containers/json's query.
type ContainerListOptions struct {
	All     bool
	Size    bool
	Limit   int // 0: no limit
	Filters Filters
}

// ContainerList is GET /containers/json.
func (c *Client) ContainerList(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error) {
	var list []container.Summary
	err := c.ContainerListInto(ctx, opts, &list)
	return list, err
}

// ContainerListInto is GET /containers/json decoded into out, a pointer to
// a slice of the caller's own type: a list that shows a few fields (ps)
// decodes only those, and the decoder skips the rest of each entry
// (network endpoints, host config...), most of the answer's bytes.
func (c *Client) ContainerListInto(ctx context.Context, opts ContainerListOptions, out any) error {
	q := opts.Filters.Query()
	if opts.All {
		q.Set("all", "1")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Size {
		q.Set("size", "1")
	}
	return c.Get(ctx, "/containers/json", q, out)
}

// ContainerInspect is GET /containers/{id}/json.
func (c *Client) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	r, _, err := c.ContainerInspectWithRaw(ctx, id, false)
	return r, err
}

// ContainerInspectWithRaw is GET /containers/{id}/json (size=1 with size),
// also answering the body as sent, for inspect's JSON output. A body that
// does not decode is still answered, with the decode error.
func (c *Client) ContainerInspectWithRaw(ctx context.Context, id string, size bool) (container.InspectResponse, json.RawMessage, error) {
	q := url.Values{}
	if size {
		q.Set("size", "1")
	}
	return inspectRaw[container.InspectResponse](ctx, c, "/containers/"+id+"/json", q)
}

// ContainerCreate is POST /containers/create; name may be empty.
func (c *Client) ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	var resp container.CreateResponse
	err := c.Post(ctx, "/containers/create", q, req, &resp)
	return resp, err
}

// ContainerStart is POST /containers/{id}/start. A container already
// running answers 304, reported as an *Error with that status.
func (c *Client) ContainerStart(ctx context.Context, id string) error {
	return c.Post(ctx, "/containers/"+id+"/start", nil, nil, nil)
}

// StopOptions is the query of stop and restart: Timeout nil leaves the
// container's own stop timeout, Signal "" its stop signal.
type StopOptions struct {
	Signal  string
	Timeout *int
}

func (o StopOptions) query() url.Values {
	q := url.Values{}
	if o.Timeout != nil {
		q.Set("t", strconv.Itoa(*o.Timeout))
	}
	if o.Signal != "" {
		q.Set("signal", o.Signal)
	}
	return q
}

// ContainerStop is POST /containers/{id}/stop (304 when not running).
func (c *Client) ContainerStop(ctx context.Context, id string, opts StopOptions) error {
	return c.Post(ctx, "/containers/"+id+"/stop", opts.query(), nil, nil)
}

// ContainerRestart is POST /containers/{id}/restart.
func (c *Client) ContainerRestart(ctx context.Context, id string, opts StopOptions) error {
	return c.Post(ctx, "/containers/"+id+"/restart", opts.query(), nil, nil)
}

// ContainerKill is POST /containers/{id}/kill; signal "" is SIGKILL.
func (c *Client) ContainerKill(ctx context.Context, id, signal string) error {
	q := url.Values{}
	if signal != "" {
		q.Set("signal", signal)
	}
	return c.Post(ctx, "/containers/"+id+"/kill", q, nil, nil)
}

// ContainerPause is POST /containers/{id}/pause.
func (c *Client) ContainerPause(ctx context.Context, id string) error {
	return c.Post(ctx, "/containers/"+id+"/pause", nil, nil, nil)
}

// ContainerUnpause is POST /containers/{id}/unpause.
func (c *Client) ContainerUnpause(ctx context.Context, id string) error {
	return c.Post(ctx, "/containers/"+id+"/unpause", nil, nil, nil)
}

// ContainerRemoveOptions is DELETE /containers/{id}'s query.
type ContainerRemoveOptions struct {
	Force         bool
	RemoveVolumes bool // v=1
	RemoveLinks   bool // link=1
}

// ContainerRemove is DELETE /containers/{id}.
func (c *Client) ContainerRemove(ctx context.Context, id string, opts ContainerRemoveOptions) error {
	q := url.Values{}
	if opts.Force {
		q.Set("force", "1")
	}
	if opts.RemoveVolumes {
		q.Set("v", "1")
	}
	if opts.RemoveLinks {
		q.Set("link", "1")
	}
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/containers/" + id, Query: q}, nil)
}

// WaitResult is the one answer of a wait: the daemon's response, or why it
// could not be read.
type WaitResult struct {
	Response container.WaitResponse
	Err      error
}

// ContainerWait is POST /containers/{id}/wait; condition "" is the
// daemon's default (not-running). It returns once the daemon has answered
// with headers, so a start sent after it cannot outrun the wait; the
// channel then gets the result when the container reaches the condition.
func (c *Client) ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan WaitResult, error) {
	q := url.Values{}
	if condition != "" {
		q.Set("condition", string(condition))
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/containers/" + id + "/wait", Query: q})
	if err != nil {
		return nil, err
	}
	ch := make(chan WaitResult, 1)
	go func() {
		defer resp.Body.Close()
		var r WaitResult
		if err := json.NewDecoder(resp.Body).Decode(&r.Response); err != nil {
			r.Err = err
		}
		ch <- r
	}()
	return ch, nil
}

// ContainerRename is POST /containers/{id}/rename.
func (c *Client) ContainerRename(ctx context.Context, id, newName string) error {
	return c.Post(ctx, "/containers/"+id+"/rename", url.Values{"name": {newName}}, nil, nil)
}

// ContainerUpdate is POST /containers/{id}/update.
func (c *Client) ContainerUpdate(ctx context.Context, id string, cfg any) (container.UpdateResponse, error) {
	var resp container.UpdateResponse
	err := c.Post(ctx, "/containers/"+id+"/update", nil, cfg, &resp)
	return resp, err
}

// ContainerTop is GET /containers/{id}/top; psArgs "" sends none.
func (c *Client) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	q := url.Values{}
	if psArgs != "" {
		q.Set("ps_args", psArgs)
	}
	var top container.TopResponse
	err := c.Get(ctx, "/containers/"+id+"/top", q, &top)
	return top, err
}

// ContainerChanges is GET /containers/{id}/changes.
func (c *Client) ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	var changes []container.FilesystemChange
	err := c.Get(ctx, "/containers/"+id+"/changes", nil, &changes)
	return changes, err
}

// ContainerResize is POST /containers/{id}/resize.
func (c *Client) ContainerResize(ctx context.Context, id string, height, width uint) error {
	return c.Post(ctx, "/containers/"+id+"/resize", resizeQuery(height, width), nil, nil)
}

func resizeQuery(height, width uint) url.Values {
	return url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
}

// ContainersPrune is POST /containers/prune.
func (c *Client) ContainersPrune(ctx context.Context, f Filters) (container.PruneReport, error) {
	var rep container.PruneReport
	err := c.Post(ctx, "/containers/prune", f.Query(), nil, &rep)
	return rep, err
}

// ContainerCommitOptions is POST /commit's query. Author and Comment are
// sent even when empty, as docker's CLI sends them.
type ContainerCommitOptions struct {
	Repo, Tag       string // both empty: an untagged image
	Author, Comment string
	Changes         []string // Dockerfile instructions
	NoPause         bool     // pause=0
	Config          *container.Config
}

// ContainerCommit is POST /commit.
func (c *Client) ContainerCommit(ctx context.Context, id string, opts ContainerCommitOptions) (container.CommitResponse, error) {
	q := url.Values{"container": {id}, "author": {opts.Author}, "comment": {opts.Comment}}
	if opts.Repo != "" || opts.Tag != "" {
		q.Set("repo", opts.Repo)
		q.Set("tag", opts.Tag)
	}
	if opts.NoPause {
		q.Set("pause", "0")
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	var resp container.CommitResponse
	err := c.Post(ctx, "/commit", q, cfg, &resp)
	return resp, err
}
