package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
)

// ImageBuildOptions are POST /build's parameters and headers, typed; Query
// encodes them the way docker CLI 28 (moby's client) does, so the CLI,
// compose and the tests each fill a struct and none spells the wire.
type ImageBuildOptions struct {
	Tags, SecurityOpt, ExtraHosts, CacheFrom []string

	SuppressOutput, NoCache, ForceRemove, PullParent, Squash bool
	// Remove is rm: docker's default is on, so only "off" is sent.
	Remove bool

	// "default" for Isolation and NetworkMode is the daemon's default
	// and is not sent.
	Isolation, NetworkMode                string
	CPUSetCPUs, CPUSetMems, CgroupParent  string
	Dockerfile, Target, Platform, Version string
	// RemoteContext is remote: a URL or git repository the daemon
	// fetches as the context (the request then has no body).
	RemoteContext string

	CPUShares, CPUQuota, CPUPeriod, Memory, MemorySwap, ShmSize int64 // 0: not sent

	Ulimits   []*container.Ulimit
	BuildArgs map[string]*string // nil value: a bare ARG name (take the Dockerfile's default)
	Labels    map[string]string

	// RegistryConfig is X-Registry-Config: base64url JSON of every
	// credential FROM may need; "" sends none.
	RegistryConfig string
}

// Query is the options as POST /build's query string: defaults left out,
// booleans as "1", lists and maps as JSON, the platform lower-cased.
func (o ImageBuildOptions) Query() url.Values {
	q := url.Values{}
	setList := func(k string, v []string) {
		if len(v) > 0 {
			q[k] = append([]string(nil), v...)
		}
	}
	setFlag := func(k string, on bool) {
		if on {
			q.Set(k, "1")
		}
	}
	setStr := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	setInt := func(k string, v int64) {
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	setJSON := func(k string, v any) {
		b, _ := json.Marshal(v) // slices and maps of strings always encode
		q.Set(k, string(b))
	}
	setList("t", o.Tags)
	setList("securityopt", o.SecurityOpt)
	setList("extrahosts", o.ExtraHosts)
	setFlag("q", o.SuppressOutput)
	setFlag("nocache", o.NoCache)
	if !o.Remove {
		q.Set("rm", "0")
	}
	setFlag("forcerm", o.ForceRemove)
	setFlag("pull", o.PullParent)
	setFlag("squash", o.Squash)
	if o.Isolation != "default" {
		setStr("isolation", o.Isolation)
	}
	if o.NetworkMode != "default" {
		setStr("networkmode", o.NetworkMode)
	}
	setStr("cpusetcpus", o.CPUSetCPUs)
	setStr("cpusetmems", o.CPUSetMems)
	setInt("cpushares", o.CPUShares)
	setInt("cpuquota", o.CPUQuota)
	setInt("cpuperiod", o.CPUPeriod)
	setInt("memory", o.Memory)
	setInt("memswap", o.MemorySwap)
	setStr("cgroupparent", o.CgroupParent)
	setInt("shmsize", o.ShmSize)
	setStr("dockerfile", o.Dockerfile)
	setStr("target", o.Target)
	if len(o.Ulimits) > 0 {
		setJSON("ulimits", o.Ulimits)
	}
	if len(o.BuildArgs) > 0 {
		setJSON("buildargs", o.BuildArgs)
	}
	if len(o.Labels) > 0 {
		setJSON("labels", o.Labels)
	}
	if len(o.CacheFrom) > 0 {
		setJSON("cachefrom", o.CacheFrom)
	}
	setStr("platform", strings.ToLower(o.Platform))
	setStr("version", o.Version)
	setStr("remote", o.RemoteContext)
	return q
}

// ImageBuild is POST /build with the context as a tar (optionally
// gzipped) stream: the daemon's JSON message stream.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, opts ImageBuildOptions) (io.ReadCloser, error) {
	h := http.Header{"Content-Type": {"application/x-tar"}}
	if opts.RegistryConfig != "" {
		h.Set("X-Registry-Config", opts.RegistryConfig)
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/build", Query: opts.Query(), Body: buildContext, Headers: h})
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
