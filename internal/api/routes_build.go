package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/imageref"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
)

func (s *Server) registerBuild(rt *router) {
	bb := s.be.Build
	if bb == nil {
		rt.post("/build", notImplemented("build"))
		return
	}
	rt.post("/build", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		opts, err := buildOptions(r)
		if err != nil {
			return err
		}
		var dst io.Writer = w
		if !wantBuildAux(ctx) {
			dst = dropAux{w}
		}
		return progressStreamVia(w, dst, func(js *jsonstream.Writer) error {
			return bb.Build(ctx, opts, r.Body, js)
		})
	})
	rt.post("/build/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		all, err := boolValue(r, "all")
		if err != nil {
			return err
		}
		f, err := filterArgs(r)
		if err != nil {
			return err
		}
		var keep int64
		for _, k := range []string{"reserved-space", "keep-storage"} {
			if v := r.URL.Query().Get(k); v != "" {
				if keep, err = units.RAMInBytes(v); err != nil {
					return errdefs.Invalidf("%s is in bytes and expects an integer, got %v", k, v)
				}
				break
			}
		}
		rep, err := bb.BuildCachePrune(ctx, all, keep, f)
		if err != nil {
			return err
		}
		if rep.CachesDeleted == nil {
			rep.CachesDeleted = []string{}
		}
		return writeJSON(w, http.StatusOK, rep)
	})
}

// buildOptions decodes POST /build's query like dockerd's build router.
func buildOptions(r *http.Request) (engine.BuildOptions, error) {
	q := r.URL.Query()
	var o engine.BuildOptions
	var err error
	bools := map[string]*bool{"nocache": &o.NoCache, "pull": &o.Pull, "forcerm": &o.ForceRemove, "q": &o.Quiet}
	for k, p := range bools {
		if *p, err = boolValue(r, k); err != nil {
			return o, err
		}
	}
	o.Remove = true
	if q.Get("rm") != "" && !o.ForceRemove {
		if o.Remove, err = boolValue(r, "rm"); err != nil {
			return o, err
		}
	}
	if v := q.Get("version"); v != "" && v != "1" {
		if v == "2" {
			return o, errdefs.Invalidf("BuildKit (builder version 2) is not supported by berthd; use the classic builder API (version=1)")
		}
		return o, errdefs.Invalidf("invalid version %q", v)
	}
	o.Tags = q["t"]
	if err := imageref.ValidateTags(o.Tags); err != nil {
		return o, err
	}
	o.Dockerfile = q.Get("dockerfile")
	o.Target = q.Get("target")
	o.NetworkMode = q.Get("networkmode")
	o.Platform = q.Get("platform")
	o.Remote = q.Get("remote")
	for _, h := range q["extrahosts"] {
		for _, e := range strings.Split(h, ",") {
			if e = strings.TrimSpace(e); e != "" {
				o.ExtraHosts = append(o.ExtraHosts, e)
			}
		}
	}
	ints := map[string]*int64{"memory": &o.Resources.Memory, "memswap": &o.Resources.MemorySwap,
		"cpushares": &o.Resources.CPUShares, "cpuperiod": &o.Resources.CPUPeriod, "cpuquota": &o.Resources.CPUQuota,
		"shmsize": &o.ShmSize}
	for k, p := range ints {
		if v := q.Get(k); v != "" {
			if *p, err = strconv.ParseInt(v, 10, 64); err != nil {
				return o, errdefs.Invalidf("invalid value for %s: %q", k, v)
			}
		}
	}
	o.Resources.CpusetCpus = q.Get("cpusetcpus")
	o.Resources.CpusetMems = q.Get("cpusetmems")
	if v := q.Get("ulimits"); v != "" {
		var ul []*container.Ulimit
		if err := json.Unmarshal([]byte(v), &ul); err != nil {
			return o, errdefs.Invalidf("invalid ulimits: %v", err)
		}
		o.Resources.Ulimits = ul
	}
	jsonParams := map[string]any{"buildargs": &o.BuildArgs, "labels": &o.Labels, "cachefrom": &o.CacheFrom}
	for k, p := range jsonParams {
		if v := q.Get(k); v != "" {
			if err := json.Unmarshal([]byte(v), p); err != nil {
				return o, errdefs.Invalidf("invalid %s: %v", k, err)
			}
		}
	}
	o.AuthConfigs = registryConfig(r.Header.Get("X-Registry-Config"))
	return o, nil
}

// registryConfig decodes X-Registry-Config, the base64 JSON map of
// registry auths the client sends. A bad header is ignored like dockerd.
func registryConfig(h string) map[string]registry.AuthConfig {
	if h == "" {
		return nil
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(h); err == nil {
			break
		}
	}
	if err != nil {
		return nil
	}
	var m map[string]registry.AuthConfig
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}
