package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imagePath is the path of one image's endpoint: "/images/{ref}" plus
// what follows ("/json", "/tag"...). A reference keeps its slashes: the
// daemon's routes take the rest of the path as the name.
func imagePath(ref, rest string) string { return "/images/" + ref + rest }

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
	img, _, err := c.ImageInspectWithRaw(ctx, ref)
	return img, err
}

// ImageInspectWithRaw is ImageInspect with the daemon's JSON as sent, for
// inspect's output and templates.
func (c *Client) ImageInspectWithRaw(ctx context.Context, ref string) (image.InspectResponse, json.RawMessage, error) {
	return inspectRaw[image.InspectResponse](ctx, c, imagePath(ref, "/json"), nil)
}

// ImageHistoryOptions is GET /images/{ref}/history's query.
type ImageHistoryOptions struct {
	Platform *ocispec.Platform // API 1.48+
}

// ImageHistory is GET /images/{ref}/history.
func (c *Client) ImageHistory(ctx context.Context, ref string, opts ImageHistoryOptions) ([]image.HistoryResponseItem, error) {
	q := url.Values{}
	if opts.Platform != nil {
		addPlatforms(q, *opts.Platform)
	}
	var hist []image.HistoryResponseItem
	err := c.Get(ctx, imagePath(ref, "/history"), q, &hist)
	return hist, err
}

// addPlatforms adds each platform as the JSON OCI platform docker's
// client sends to save, load, rmi and history.
func addPlatforms(q url.Values, ps ...ocispec.Platform) {
	for _, p := range ps {
		b, _ := json.Marshal(p) // a struct of strings always encodes
		q.Add("platform", string(b))
	}
}

// ImageRemoveOptions is DELETE /images/{ref}'s query.
type ImageRemoveOptions struct {
	Force     bool
	NoPrune   bool
	Platforms []ocispec.Platform // API 1.50+: remove only these variants
}

// ImageRemove is DELETE /images/{ref}.
func (c *Client) ImageRemove(ctx context.Context, ref string, opts ImageRemoveOptions) ([]image.DeleteResponse, error) {
	q := url.Values{}
	addPlatforms(q, opts.Platforms...)
	if opts.Force {
		q.Set("force", "1")
	}
	if opts.NoPrune {
		q.Set("noprune", "1")
	}
	var resp []image.DeleteResponse
	err := c.Call(ctx, Request{Method: http.MethodDelete, Path: imagePath(ref, ""), Query: q}, &resp)
	return resp, err
}

// ImagesPrune is POST /images/prune.
func (c *Client) ImagesPrune(ctx context.Context, f Filters) (image.PruneReport, error) {
	var rep image.PruneReport
	err := c.Post(ctx, "/images/prune", f.Query(), nil, &rep)
	return rep, err
}

// ImageTag is POST /images/{source}/tag: repo (fully qualified) and tag
// name the new reference.
func (c *Client) ImageTag(ctx context.Context, source, repo, tag string) error {
	q := url.Values{"repo": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	return c.Post(ctx, imagePath(source, "/tag"), q, nil, nil)
}

// imageCreate is POST /images/create, which both pulls and imports; it
// answers a JSON message stream the caller reads and closes.
func (c *Client) imageCreate(ctx context.Context, q url.Values, body io.Reader, h http.Header) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/images/create", Query: q, Body: body, Headers: h})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImagePullOptions is POST /images/create's query for a pull.
type ImagePullOptions struct {
	Tag          string // "" with a bare name pulls every tag
	Platform     string // "os[/arch[/variant]]"
	RegistryAuth string // X-Registry-Auth, base64url JSON; "" sends none
}

// ImagePull is POST /images/create?fromImage=name: the progress stream.
func (c *Client) ImagePull(ctx context.Context, name string, opts ImagePullOptions) (io.ReadCloser, error) {
	q := url.Values{"fromImage": {name}}
	if opts.Tag != "" {
		q.Set("tag", opts.Tag)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	return c.imageCreate(ctx, q, nil, authHeader(opts.RegistryAuth))
}

// ImageImportOptions is POST /images/create's query for an import.
type ImageImportOptions struct {
	Repo     string // REPOSITORY[:TAG] of the new image
	Message  string
	Platform string
	Changes  []string // Dockerfile instructions
}

// ImageImport is POST /images/create?fromSrc=: src is "-" for a tar in
// body, or a URL the daemon fetches (body nil).
func (c *Client) ImageImport(ctx context.Context, src string, body io.Reader, opts ImageImportOptions) (io.ReadCloser, error) {
	q := url.Values{"fromSrc": {src}}
	if opts.Repo != "" {
		q.Set("repo", opts.Repo)
	}
	if opts.Message != "" {
		q.Set("message", opts.Message)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	var h http.Header
	if body != nil {
		h = http.Header{"Content-Type": {"application/x-tar"}}
	}
	return c.imageCreate(ctx, q, body, h)
}

// ImageLoadOptions is POST /images/load's query.
type ImageLoadOptions struct {
	Quiet     bool
	Platforms []ocispec.Platform
}

// ImageLoad is POST /images/load with a tar archive: the message stream.
func (c *Client) ImageLoad(ctx context.Context, archive io.Reader, opts ImageLoadOptions) (io.ReadCloser, error) {
	q := url.Values{}
	addPlatforms(q, opts.Platforms...)
	if opts.Quiet {
		q.Set("quiet", "1")
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/images/load", Query: q, Body: archive,
		Headers: http.Header{"Content-Type": {"application/x-tar"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImageSaveOptions is GET /images/get's query besides the names.
type ImageSaveOptions struct {
	Platforms []ocispec.Platform
}

// ImageSave is GET /images/get: the tar archive of names.
func (c *Client) ImageSave(ctx context.Context, names []string, opts ImageSaveOptions) (io.ReadCloser, error) {
	q := url.Values{"names": names}
	addPlatforms(q, opts.Platforms...)
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/images/get", Query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// emptyAuth is "{}" base64url-encoded: no credentials.
const emptyAuth = "e30="

// ImagePushOptions is POST /images/{name}/push's query and auth.
type ImagePushOptions struct {
	Tag          string // "" pushes every tag
	RegistryAuth string // "" sends "{}": dockerd wants the header even for anonymous pushes
}

// ImagePush is POST /images/{name}/push: the progress stream.
func (c *Client) ImagePush(ctx context.Context, name string, opts ImagePushOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Tag != "" {
		q.Set("tag", opts.Tag)
	}
	auth := opts.RegistryAuth
	if auth == "" {
		auth = emptyAuth
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: imagePath(name, "/push"), Query: q, Headers: authHeader(auth)})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImageSearchOptions is GET /images/search's query and auth.
type ImageSearchOptions struct {
	Limit        int // 0: the daemon's default
	Filters      Filters
	RegistryAuth string
}

// ImageSearch is GET /images/search.
func (c *Client) ImageSearch(ctx context.Context, term string, opts ImageSearchOptions) ([]registry.SearchResult, error) {
	q := opts.Filters.Query()
	q.Set("term", term)
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var results []registry.SearchResult
	err := c.Call(ctx, Request{Method: http.MethodGet, Path: "/images/search", Query: q, Headers: authHeader(opts.RegistryAuth)}, &results)
	return results, err
}
