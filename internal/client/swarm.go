package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/swarm"
)

// The swarm endpoints: /swarm, /nodes, /services, /tasks, /secrets and
// /configs. Inspect calls answer the daemon's JSON as well (raw), because
// docker's inspect commands print it as it came.

// SwarmInspect is GET /swarm.
func (c *Client) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	var s swarm.Swarm
	err := c.Get(ctx, "/swarm", nil, &s)
	return s, err
}

// SwarmInfo is the Swarm part of GET /info: this node's state and ID.
func (c *Client) SwarmInfo(ctx context.Context) (swarm.Info, error) {
	var info struct{ Swarm swarm.Info }
	err := c.Get(ctx, "/info", nil, &info)
	return info.Swarm, err
}

// SwarmInit is POST /swarm/init; it answers the new node's ID.
func (c *Client) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	var id string
	err := c.Post(ctx, "/swarm/init", nil, req, &id)
	return id, err
}

// SwarmJoin is POST /swarm/join.
func (c *Client) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error {
	return c.Post(ctx, "/swarm/join", nil, req, nil)
}

// SwarmLeave is POST /swarm/leave.
func (c *Client) SwarmLeave(ctx context.Context, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.Post(ctx, "/swarm/leave", q, nil, nil)
}

// SwarmUpdateFlags are the query flags of POST /swarm/update.
type SwarmUpdateFlags struct {
	RotateWorkerToken, RotateManagerToken, RotateManagerUnlockKey bool
}

// SwarmUpdate is POST /swarm/update.
func (c *Client) SwarmUpdate(ctx context.Context, version swarm.Version, spec swarm.Spec, f SwarmUpdateFlags) error {
	q := url.Values{}
	q.Set("version", strconv.FormatUint(version.Index, 10))
	q.Set("rotateWorkerToken", strconv.FormatBool(f.RotateWorkerToken))
	q.Set("rotateManagerToken", strconv.FormatBool(f.RotateManagerToken))
	q.Set("rotateManagerUnlockKey", strconv.FormatBool(f.RotateManagerUnlockKey))
	return c.Post(ctx, "/swarm/update", q, spec, nil)
}

// SwarmUnlockKey is GET /swarm/unlockkey.
func (c *Client) SwarmUnlockKey(ctx context.Context) (swarm.UnlockKeyResponse, error) {
	var r swarm.UnlockKeyResponse
	err := c.Get(ctx, "/swarm/unlockkey", nil, &r)
	return r, err
}

// SwarmUnlock is POST /swarm/unlock.
func (c *Client) SwarmUnlock(ctx context.Context, req swarm.UnlockRequest) error {
	return c.Post(ctx, "/swarm/unlock", nil, req, nil)
}

// NodeList is GET /nodes.
func (c *Client) NodeList(ctx context.Context, f Filters) ([]swarm.Node, error) {
	var l []swarm.Node
	err := c.Get(ctx, "/nodes", f.Query(), &l)
	return l, err
}

// NodeInspect is GET /nodes/{id}.
func (c *Client) NodeInspect(ctx context.Context, id string) (swarm.Node, json.RawMessage, error) {
	return inspectRaw[swarm.Node](ctx, c, "/nodes/"+url.PathEscape(id), nil)
}

// NodeUpdate is POST /nodes/{id}/update.
func (c *Client) NodeUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.NodeSpec) error {
	return c.Post(ctx, "/nodes/"+url.PathEscape(id)+"/update", versionQuery(version), spec, nil)
}

// NodeRemove is DELETE /nodes/{id}.
func (c *Client) NodeRemove(ctx context.Context, id string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/nodes/" + url.PathEscape(id), Query: q}, nil)
}

// ServiceList is GET /services; status asks for the running and desired
// task counts.
func (c *Client) ServiceList(ctx context.Context, f Filters, status bool) ([]swarm.Service, error) {
	q := f.Query()
	if status {
		q.Set("status", "true")
	}
	var l []swarm.Service
	err := c.Get(ctx, "/services", q, &l)
	return l, err
}

// ServiceCreate is POST /services/create; auth is the X-Registry-Auth
// header's value ("" for none).
func (c *Client) ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, auth string) (swarm.ServiceCreateResponse, error) {
	var r swarm.ServiceCreateResponse
	err := c.Call(ctx, Request{Method: http.MethodPost, Path: "/services/create", JSON: spec, Headers: authHeader(auth)}, &r)
	return r, err
}

// ServiceInspect is GET /services/{id}.
func (c *Client) ServiceInspect(ctx context.Context, id string, insertDefaults bool) (swarm.Service, json.RawMessage, error) {
	q := url.Values{}
	if insertDefaults {
		q.Set("insertDefaults", "true")
	}
	return inspectRaw[swarm.Service](ctx, c, "/services/"+url.PathEscape(id), q)
}

// ServiceUpdateOptions are the query options of POST /services/{id}/update.
type ServiceUpdateOptions struct {
	Rollback         string // "previous" rolls back to the previous spec
	RegistryAuthFrom string // "spec" or "previous-spec"
	Auth             string // X-Registry-Auth
}

// ServiceUpdate is POST /services/{id}/update.
func (c *Client) ServiceUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, o ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	q := versionQuery(version)
	if o.Rollback != "" {
		q.Set("rollback", o.Rollback)
	}
	if o.RegistryAuthFrom != "" {
		q.Set("registryAuthFrom", o.RegistryAuthFrom)
	}
	var r swarm.ServiceUpdateResponse
	err := c.Call(ctx, Request{Method: http.MethodPost, Path: "/services/" + url.PathEscape(id) + "/update", Query: q, JSON: spec, Headers: authHeader(o.Auth)}, &r)
	return r, err
}

// ServiceRemove is DELETE /services/{id}.
func (c *Client) ServiceRemove(ctx context.Context, id string) error {
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/services/" + url.PathEscape(id)}, nil)
}

// ServiceLogs is GET /services/{id}/logs: the multiplexed stream (or raw
// for a TTY service); the caller closes it.
func (c *Client) ServiceLogs(ctx context.Context, id string, q url.Values) (io.ReadCloser, error) {
	return c.stream(ctx, "/services/"+url.PathEscape(id)+"/logs", q)
}

// TaskLogs is GET /tasks/{id}/logs.
func (c *Client) TaskLogs(ctx context.Context, id string, q url.Values) (io.ReadCloser, error) {
	return c.stream(ctx, "/tasks/"+url.PathEscape(id)+"/logs", q)
}

func (c *Client) stream(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: path, Query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// TaskList is GET /tasks.
func (c *Client) TaskList(ctx context.Context, f Filters) ([]swarm.Task, error) {
	var l []swarm.Task
	err := c.Get(ctx, "/tasks", f.Query(), &l)
	return l, err
}

// TaskInspect is GET /tasks/{id}.
func (c *Client) TaskInspect(ctx context.Context, id string) (swarm.Task, json.RawMessage, error) {
	return inspectRaw[swarm.Task](ctx, c, "/tasks/"+url.PathEscape(id), nil)
}

// SecretList is GET /secrets.
func (c *Client) SecretList(ctx context.Context, f Filters) ([]swarm.Secret, error) {
	var l []swarm.Secret
	err := c.Get(ctx, "/secrets", f.Query(), &l)
	return l, err
}

// SecretCreate is POST /secrets/create; it answers the new secret's ID.
func (c *Client) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	var r swarm.SecretCreateResponse
	err := c.Post(ctx, "/secrets/create", nil, spec, &r)
	return r.ID, err
}

// SecretInspect is GET /secrets/{id}.
func (c *Client) SecretInspect(ctx context.Context, id string) (swarm.Secret, json.RawMessage, error) {
	return inspectRaw[swarm.Secret](ctx, c, "/secrets/"+url.PathEscape(id), nil)
}

// SecretUpdate is POST /secrets/{id}/update.
func (c *Client) SecretUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.SecretSpec) error {
	return c.Post(ctx, "/secrets/"+url.PathEscape(id)+"/update", versionQuery(version), spec, nil)
}

// SecretRemove is DELETE /secrets/{id}.
func (c *Client) SecretRemove(ctx context.Context, id string) error {
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/secrets/" + url.PathEscape(id)}, nil)
}

// ConfigList is GET /configs.
func (c *Client) ConfigList(ctx context.Context, f Filters) ([]swarm.Config, error) {
	var l []swarm.Config
	err := c.Get(ctx, "/configs", f.Query(), &l)
	return l, err
}

// ConfigCreate is POST /configs/create; it answers the new config's ID.
func (c *Client) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	var r swarm.ConfigCreateResponse
	err := c.Post(ctx, "/configs/create", nil, spec, &r)
	return r.ID, err
}

// ConfigInspect is GET /configs/{id}.
func (c *Client) ConfigInspect(ctx context.Context, id string) (swarm.Config, json.RawMessage, error) {
	return inspectRaw[swarm.Config](ctx, c, "/configs/"+url.PathEscape(id), nil)
}

// ConfigUpdate is POST /configs/{id}/update.
func (c *Client) ConfigUpdate(ctx context.Context, id string, version swarm.Version, spec swarm.ConfigSpec) error {
	return c.Post(ctx, "/configs/"+url.PathEscape(id)+"/update", versionQuery(version), spec, nil)
}

// ConfigRemove is DELETE /configs/{id}.
func (c *Client) ConfigRemove(ctx context.Context, id string) error {
	return c.Call(ctx, Request{Method: http.MethodDelete, Path: "/configs/" + url.PathEscape(id)}, nil)
}

// inspectRaw gets one object both decoded and as the daemon's JSON.
func inspectRaw[T any](ctx context.Context, c *Client, path string, q url.Values) (T, json.RawMessage, error) {
	var v T
	var raw json.RawMessage
	if err := c.Get(ctx, path, q, &raw); err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, raw, err
	}
	return v, raw, nil
}

func versionQuery(v swarm.Version) url.Values {
	q := url.Values{}
	q.Set("version", strconv.FormatUint(v.Index, 10))
	return q
}

func authHeader(auth string) http.Header {
	if auth == "" {
		return nil
	}
	return http.Header{"X-Registry-Auth": []string{auth}}
}
