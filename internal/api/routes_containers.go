package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

func (s *Server) registerContainers(rt *router) {
	rt.post("/containers/create", s.containerCreate)
	rt.post("/containers/prune", s.containersPrune)
	rt.get("/containers/json", s.containerList)
	// Greedy, as in dockerd: a legacy link's name is "parent/alias".
	rt.get("/containers/{name:.*}/json", s.containerInspect)
	rt.post("/containers/{name}/start", s.containerStart)
	rt.post("/containers/{name}/stop", s.containerStop)
	rt.post("/containers/{name}/restart", s.containerRestart)
	rt.post("/containers/{name}/kill", s.containerKill)
	rt.post("/containers/{name}/pause", s.simple(s.be.Containers.ContainerPause))
	rt.post("/containers/{name}/unpause", s.simple(s.be.Containers.ContainerUnpause))
	rt.post("/containers/{name}/rename", s.containerRename)
	rt.post("/containers/{name}/update", s.containerUpdate)
	rt.post("/containers/{name}/resize", s.containerResize)
	rt.get("/containers/{name}/top", s.containerTop)
	rt.get("/containers/{name}/changes", s.containerChanges)
	rt.del("/containers/{name:.*}", s.containerRemove)
	rt.post("/commit", s.commit)
}

// validName is dockerd's rule for container names.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (s *Server) containerCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	name := r.URL.Query().Get("name")
	if name != "" && !validName.MatchString(name) {
		return errdefs.Invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if err := checkForJSON(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req container.CreateRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return errdefs.Invalidf("config cannot be empty in order to create a container")
	}
	var legacy legacyCreateFields
	_ = json.Unmarshal(body, &legacy) // the body decoded above; a type clash is not ours to report
	warnings, err := adaptCreate(ctx, &req, legacy, s.cgroup2(ctx))
	if err != nil {
		return err
	}
	resp, err := s.be.Containers.ContainerCreate(ctx, name, &req)
	if err != nil {
		return err
	}
	resp.Warnings = append(resp.Warnings, warnings...)
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) containerList(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var opts engine.ContainerListOptions
	var err error
	if opts.All, err = boolValue(r, "all"); err != nil {
		return err
	}
	if opts.Size, err = boolValue(r, "size"); err != nil {
		return err
	}
	if opts.Limit, err = intValue(r, "limit", 0); err != nil {
		return err
	}
	if opts.Filters, err = filterArgs(r); err != nil {
		return err
	}
	list, err := s.be.Containers.ContainerList(ctx, opts)
	if err != nil {
		return err
	}
	if list == nil {
		list = []container.Summary{}
	}
	adaptContainerList(ctx, list)
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) containerInspect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	size, err := boolValue(r, "size")
	if err != nil {
		return err
	}
	c, err := s.be.Containers.ContainerInspect(ctx, v["name"], size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adaptContainerInspect(ctx, c))
}

func (s *Server) containerStart(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	if err := s.be.Containers.ContainerStart(ctx, v["name"]); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) containerStop(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := s.be.Containers.ContainerStop(ctx, v["name"], r.URL.Query().Get("signal"), t); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) containerRestart(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	t, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := s.be.Containers.ContainerRestart(ctx, v["name"], r.URL.Query().Get("signal"), t); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) containerKill(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.be.Containers.ContainerKill(ctx, v["name"], r.URL.Query().Get("signal")); err != nil {
		// dockerd's router prefixes every kill error so (clients match it).
		return fmt.Errorf("cannot kill container: %s: %w", v["name"], err)
	}
	return noContent(w)
}

// simple adapts a name-only backend call that answers 204.
func (s *Server) simple(fn func(ctx context.Context, name string) error) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
		if err := fn(ctx, v["name"]); err != nil {
			return err
		}
		return noContent(w)
	}
}

func (s *Server) containerRename(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	if err := s.be.Containers.ContainerRename(ctx, v["name"], r.URL.Query().Get("name")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) containerUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var cfg container.UpdateConfig
	if err := decodeJSON(r, &cfg, false); err != nil {
		return err
	}
	adaptUpdate(ctx, &cfg)
	resp, err := s.be.Containers.ContainerUpdate(ctx, v["name"], &cfg)
	if err != nil {
		return err
	}
	if resp == nil {
		resp = &container.UpdateResponse{}
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerResize(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	return resize(w, r, func(h, wd uint) error { return s.be.Containers.ContainerResize(ctx, v["name"], h, wd) })
}

// resize reads ?h= and ?w= and applies them (containers and execs alike).
func resize(w http.ResponseWriter, r *http.Request, apply func(h, wd uint) error) error {
	h, err := uintValue(r, "h")
	if err != nil {
		return err
	}
	wd, err := uintValue(r, "w")
	if err != nil {
		return err
	}
	return emptyOK(w, apply(h, wd))
}

func (s *Server) containerTop(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	top, err := s.be.Containers.ContainerTop(ctx, v["name"], r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, top)
}

func (s *Server) containerChanges(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	ch, err := s.be.Containers.ContainerChanges(ctx, v["name"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ch)
}

func (s *Server) containerRemove(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	force, err := boolValue(r, "force")
	if err != nil {
		return err
	}
	vols, err := boolValue(r, "v")
	if err != nil {
		return err
	}
	link, err := boolValue(r, "link")
	if err != nil {
		return err
	}
	if link {
		if err := s.be.Containers.ContainerRemoveLink(ctx, v["name"]); err != nil {
			return err
		}
		return noContent(w)
	}
	if err := s.be.Containers.ContainerRemove(ctx, v["name"], force, vols); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) containersPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	rep, err := s.be.Containers.ContainersPrune(ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (s *Server) commit(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	opts := engine.CommitOptions{
		Container: q.Get("container"),
		Repo:      q.Get("repo"),
		Tag:       q.Get("tag"),
		Comment:   q.Get("comment"),
		Author:    q.Get("author"),
		Changes:   q["changes"],
	}
	// dockerd pauses by default unless pause is given and false.
	pause, err := boolDefault(r, "pause", true)
	if err != nil {
		return err
	}
	opts.Pause = pause
	var cfg container.Config
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &cfg, true); err != nil {
			return err
		}
		// As dockerd decodes it: a body that sets no field of the
		// config ("null", "{}") is no config, the container's is used.
		if !reflect.ValueOf(cfg).IsZero() {
			opts.Config = &cfg
		}
	}
	id, err := s.be.Containers.ContainerCommit(ctx, opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}
