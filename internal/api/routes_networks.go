package api

import (
	"context"
	"net/http"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/network/ipam"
	"github.com/moby/moby/api/types/network"
)

// registerNetworks adds the network routes when the server has a network
// backend.
func (s *Server) registerNetworks(rt *router) {
	nb := s.be.Networks
	if nb == nil {
		return
	}
	h := networkHandlers{nb}
	rt.get("/networks", h.list)
	rt.post("/networks/create", h.create)
	rt.post("/networks/prune", h.prune)
	rt.get("/networks/{id}", h.inspect)
	rt.del("/networks/{id}", h.remove)
	rt.post("/networks/{id}/connect", h.connect)
	rt.post("/networks/{id}/disconnect", h.disconnect)
}

type networkHandlers struct{ b engine.NetworkBackend }

func (h networkHandlers) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	out, err := h.b.NetworkList(ctx, f)
	if err != nil {
		return err
	}
	if out == nil {
		out = []network.Summary{}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h networkHandlers) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req network.CreateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	adaptNetworkCreate(ctx, &req)
	if !chNetworkIPAMValidate.before(ctx) {
		if err := ipam.Validate(req.IPAM, req.EnableIPv6 != nil && *req.EnableIPv6); err != nil {
			return err
		}
	}
	resp, err := h.b.NetworkCreate(ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (h networkHandlers) inspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	n, err := h.b.NetworkInspect(ctx, v["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (h networkHandlers) remove(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	if err := h.b.NetworkRemove(ctx, v["id"]); err != nil {
		return err
	}
	return noContent(w)
}

func (h networkHandlers) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	rep, err := h.b.NetworksPrune(ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (h networkHandlers) connect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req network.ConnectRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return errdefs.Invalidf("container is required")
	}
	if err := h.b.NetworkConnect(ctx, v["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h networkHandlers) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req network.DisconnectRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := h.b.NetworkDisconnect(ctx, v["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
