package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// LogsOptions is GET /containers/{id}/logs' query; Since and Until are
// the daemon's timestamps, Tail "" sends none (all).
type LogsOptions struct {
	ShowStdout, ShowStderr      bool
	Follow, Timestamps, Details bool
	Since, Until, Tail          string
}

// ContainerLogs is GET /containers/{id}/logs: the log, multiplexed
// (stdcopy) unless the container has a TTY; the caller closes it.
func (c *Client) ContainerLogs(ctx context.Context, id string, opts LogsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	set := func(k string, on bool) {
		if on {
			q.Set(k, "1")
		}
	}
	set("stdout", opts.ShowStdout)
	set("stderr", opts.ShowStderr)
	set("follow", opts.Follow)
	set("timestamps", opts.Timestamps)
	set("details", opts.Details)
	for k, v := range map[string]string{"since": opts.Since, "until": opts.Until, "tail": opts.Tail} {
		if v != "" {
			q.Set(k, v)
		}
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/containers/" + id + "/logs", Query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
