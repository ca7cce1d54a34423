package buildcontext

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// FromURL downloads an http(s) URL, as docker CLI does (the daemon's
// remote= parameter is not used): a tarball is the context itself, anything
// else is a Dockerfile wrapped into a one-file context.
func FromURL(ctx context.Context, rawURL string, o Options) (*Context, error) {
	resp, err := Get(ctx, o.httpClient(), rawURL)
	if err != nil {
		return nil, fmt.Errorf("unable to download remote context %s: %w", rawURL, err)
	}
	body := &progressReader{r: resp.Body, total: resp.ContentLength, fn: o.Download}
	c, err := FromReader(body, o.Dockerfile) // closes body when it is a bare Dockerfile
	if err != nil {
		body.Close()
		return nil, err
	}
	if o.Dockerfile == "-" {
		if err := c.addDockerfile(o.Stdin); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Get is an http GET that turns 4xx/5xx into an error naming the status
// and the body, in docker's words. It is the one URL fetcher for build
// contexts: the CLI's (FromURL) and the daemon's POST /build?remote=.
func Get(ctx context.Context, hc *http.Client, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < http.StatusBadRequest {
		return resp, nil
	}
	defer resp.Body.Close()
	msg := fmt.Sprintf("failed to GET %s with status %s", rawURL, resp.Status)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: error reading body: %w", msg, err)
	}
	return nil, fmt.Errorf("%s: %s", msg, bytes.TrimSpace(b))
}

// progressReader counts bytes read and reports them to fn.
type progressReader struct {
	r     io.ReadCloser
	read  int64
	total int64
	fn    ProgressFunc
	done  bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	if err != nil {
		p.finish()
	} else if p.fn != nil {
		p.fn(p.read, p.total, false)
	}
	return n, err
}

func (p *progressReader) Close() error {
	p.finish()
	return p.r.Close()
}

func (p *progressReader) finish() {
	if p.done || p.fn == nil {
		return
	}
	p.done = true
	p.fn(p.read, p.total, true)
}
