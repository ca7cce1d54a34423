package api

import (
	"bytes"
	"context"
	"io"
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
	h := networkHandlers{b: nb, s: s}
	h.registerSwarmScope(rt)
	rt.post("/networks/prune", h.prune)
	rt.post("/networks/{id}/connect", h.connect)
	rt.post("/networks/{id}/disconnect", h.disconnect)
}

// registerSwarmScope adds the network routes the swarm front end's own
// server answers too (for its overlay networks).
func (h networkHandlers) registerSwarmScope(rt *router) {
	rt.get("/networks", h.list)
	rt.post("/networks/create", h.create)
	rt.get("/networks/{id}", h.inspect)
	rt.del("/networks/{id}", h.remove)
}

// networkHandlers serve berthd's networks and, while the node is in a
// swarm, the swarm's overlay networks beside them (b is nil in the swarm
// front end's own server).
type networkHandlers struct {
	b engine.NetworkBackend
	s *Server
}

func (h networkHandlers) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	var out []network.Summary
	if h.b != nil {
		if out, err = h.b.NetworkList(ctx, f); err != nil {
			return err
		}
	}
	sw, err := h.s.swarmNetworkList(ctx, r, f)
	if err != nil {
		return err
	}
	out = append(out, sw...)
	return writeJSON(w, http.StatusOK, networkListJSON(ctx, out, func(id string) map[string]network.EndpointResource {
		if h.b == nil {
			return nil
		}
		n, err := h.b.NetworkInspect(ctx, id)
		if err != nil {
			return nil // a swarm network, or gone meanwhile
		}
		return n.Containers
	}))
}

func (h networkHandlers) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req network.CreateRequest
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	// Overlay networks are the swarm's (as stacks create them).
	if req.Driver == "overlay" {
		return h.s.overlayCreate(ctx, w, r, body, req)
	}
	if h.b == nil {
		return errdefs.Invalidf("only overlay networks are created in the swarm")
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

func (h networkHandlers) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	err := errdefs.NotFoundf("network %s not found", v["id"])
	if h.b != nil {
		var n *network.Inspect
		if n, err = h.b.NetworkInspect(ctx, v["id"]); err == nil {
			return writeJSON(w, http.StatusOK, n)
		}
	}
	return h.s.swarmNetworkFallback(ctx, w, r, v["id"], err)
}

func (h networkHandlers) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	err := errdefs.NotFoundf("network %s not found", v["id"])
	if h.b != nil {
		if err = h.b.NetworkRemove(ctx, v["id"]); err == nil {
			return noContent(w)
		}
	}
	return h.s.swarmNetworkFallback(ctx, w, r, v["id"], err)
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
	return emptyOK(w, h.b.NetworkConnect(ctx, v["id"], req))
}

func (h networkHandlers) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req network.DisconnectRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	return emptyOK(w, h.b.NetworkDisconnect(ctx, v["id"], req))
}
