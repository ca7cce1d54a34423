package api

import (
	"context"
	"net/http"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/volume"
)

// registerVolumes adds the volume routes when the server has a volume
// backend.
func (s *Server) registerVolumes(rt *router) {
	vb := s.be.Volumes
	if vb == nil {
		return
	}
	h := volumeHandlers{vb}
	rt.get("/volumes", h.list)
	rt.post("/volumes/create", h.create)
	rt.post("/volumes/prune", h.prune)
	rt.get("/volumes/{name}", h.inspect)
	rt.del("/volumes/{name}", h.remove)
}

type volumeHandlers struct{ b engine.VolumeBackend }

func (h volumeHandlers) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	resp, err := h.b.VolumeList(ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (h volumeHandlers) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req volume.CreateRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	v, err := h.b.VolumeCreate(ctx, &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (h volumeHandlers) inspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	v, err := h.b.VolumeInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (h volumeHandlers) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	force, err := boolValue(r, "force")
	if err != nil {
		return err
	}
	if err := h.b.VolumeRemove(ctx, vars["name"], force); err != nil {
		return err
	}
	return noContent(w)
}

// prune: versions before 1.42 get all=true added (see queryRewrites).
func (h volumeHandlers) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	rep, err := h.b.VolumesPrune(ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
