// Package client is a thin HTTP client for the Docker Engine API, used by the
// berth CLI. It speaks to any Engine-compatible daemon (berthd or dockerd)
// over a unix socket or TCP, negotiating the API version with /_ping.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/moby/moby/client/pkg/versions"
)

// DefaultHost is where berthd listens unless told otherwise.
const DefaultHost = "unix:///run/berth/berth.sock"

// MaxAPIVersion is the newest API version this client speaks (docker CLI 28's).
const MaxAPIVersion = "1.50"

// Client talks to one daemon. It is safe for concurrent use after Negotiate.
type Client struct {
	proto   string
	addr    string
	http    *http.Client
	version string
}

// Error is a non-2xx answer from the daemon.
type Error struct {
	StatusCode int
	Message    string
}

// Error reads like docker's: the daemon's message behind a fixed prefix.
func (e *Error) Error() string { return "Error response from daemon: " + e.Message }

// ConnError means the daemon could not be reached.
type ConnError struct {
	Host string
	Err  error
}

func (e *ConnError) Error() string {
	return "Cannot connect to the Docker daemon at " + e.Host + ". Is the docker daemon running?"
}
func (e *ConnError) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// ResolveHost picks the daemon address: the flag, BERTH_HOST, DOCKER_HOST, default.
func ResolveHost(flag string) string {
	for _, h := range []string{flag, os.Getenv("BERTH_HOST"), os.Getenv("DOCKER_HOST")} {
		if h != "" {
			return h
		}
	}
	return DefaultHost
}

// New returns a client for host ("unix:///path", "tcp://host:port" or "host:port").
func New(host string) (*Client, error) {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		proto, addr = "tcp", host
	}
	switch proto {
	case "unix", "tcp":
	case "http":
		proto = "tcp"
	default:
		return nil, fmt.Errorf("unsupported protocol: '%s'", proto)
	}
	c := &Client{proto: proto, addr: addr}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:        c.dial,
		DisableCompression: true,
		// Concurrent callers (compose's parallel services, the load
		// bench's workers) keep their connections instead of redialling
		// past net/http's default of two idle ones.
		MaxIdleConnsPerHost: 64,
	}}
	return c, nil
}

func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, c.proto, c.addr)
}

// Host returns the daemon address in URL form, for messages.
func (c *Client) Host() string { return c.proto + "://" + c.addr }

// Version is the negotiated API version ("" before Negotiate).
func (c *Client) Version() string { return c.version }

// Negotiate pings the daemon and settles on min(server version, MaxAPIVersion).
func (c *Client) Negotiate(ctx context.Context) error {
	if c.version != "" {
		return nil
	}
	v, err := c.ping(ctx, http.MethodHead)
	if err != nil || v == "" {
		v, err = c.ping(ctx, http.MethodGet)
	}
	if err != nil {
		return err
	}
	if v == "" || versions.GreaterThan(v, MaxAPIVersion) {
		v = MaxAPIVersion
	}
	c.version = v
	return nil
}

func (c *Client) ping(ctx context.Context, method string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://api.moby.localhost/_ping", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.connErr(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("Api-Version"), nil
}

func (c *Client) connErr(err error) error {
	return &ConnError{Host: c.Host(), Err: err}
}

// Request describes one API call. Path is unversioned ("/containers/json").
type Request struct {
	Method  string
	Path    string
	Query   url.Values
	Body    io.Reader
	JSON    any // encoded as the body when Body is nil
	Headers http.Header
}

func (c *Client) newRequest(ctx context.Context, r Request) (*http.Request, error) {
	if err := c.Negotiate(ctx); err != nil {
		return nil, err
	}
	body := r.Body
	ctype := ""
	if body == nil && r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	u := "http://api.moby.localhost/v" + c.version + r.Path
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.Headers {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	} else if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	req.Header.Set("User-Agent", "Berth-Client/"+MaxAPIVersion+" (linux)")
	return req, nil
}

// Do sends r and returns the response; non-2xx answers become *Error.
// The caller closes the body.
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.connErr(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var m struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	if msg == "" {
		msg = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &Error{StatusCode: resp.StatusCode, Message: msg}
}

// Call sends r and decodes a JSON answer into out (when out is non-nil).
func (c *Client) Call(ctx context.Context, r Request, out any) error {
	resp, err := c.Do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil && err != io.EOF {
		return fmt.Errorf("decode %s answer: %w", r.Path, err)
	}
	return nil
}

// Get is Call with GET.
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.Call(ctx, Request{Method: http.MethodGet, Path: path, Query: q}, out)
}

// Post is Call with POST and an optional JSON body.
func (c *Client) Post(ctx context.Context, path string, q url.Values, in, out any) error {
	return c.Call(ctx, Request{Method: http.MethodPost, Path: path, Query: q, JSON: in}, out)
}
