package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// SwarmProcess is the swarm front end running in its own process
// (berth-swarm). berthd forwards the swarm routes to it instead of linking
// client-go: the Kubernetes client's packages cost ~15 MB of RSS at
// program start (measured: 17 MB for a program importing
// k8s.io/client-go/kubernetes against 2 MB without), which an idle berthd
// not in a swarm must not pay.
type SwarmProcess interface {
	// SwarmInfo is the node's swarm state; cheap when not in a swarm.
	SwarmInfo(ctx context.Context) swarm.Info
	// Forwarder returns a handler that passes a request to the front end,
	// starting it when start is set. It returns nil (and no error) when the
	// front end is not running and start is false.
	Forwarder(ctx context.Context, start bool) (http.Handler, error)
}

// NewSwarmServer serves only what the swarm front end answers: /_ping,
// the swarm routes, swarm-scope networks and /berth/swarm/info, which
// berthd reads for /info.
func NewSwarmServer(sb engine.SwarmBackend, opts Options) *Server {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Server{be: Backends{Swarm: sb}, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
		s.log = s.opts.Logger
	}
	rt := newRouter()
	s.registerPing(rt)
	rt.get("/berth/swarm/info", func(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
		return writeJSON(w, http.StatusOK, sb.SwarmInfo(ctx))
	})
	s.registerSwarm(rt)
	networkHandlers{s: s}.registerSwarmScope(rt)
	s.handler = s.middleware(rt)
	return s
}

// forwardSwarm wraps a swarm route for berthd: while the node is in a
// swarm (or for init and join, which start the front end), the request
// goes to the front end process; otherwise the local handler answers as
// dockerd does outside a swarm.
func (s *Server) forwardSwarm(h handlerFunc, starts bool) handlerFunc {
	if s.swarmProc == nil {
		return h
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
		active := s.swarmProc.SwarmInfo(ctx).LocalNodeState != swarm.LocalNodeStateInactive
		if !active && !starts {
			return h(ctx, w, r, v)
		}
		f, err := s.swarmProc.Forwarder(ctx, true)
		if err != nil {
			return err
		}
		f.ServeHTTP(w, r)
		return nil
	}
}

// swarmNetworks says how swarm-scope networks are reached: in process,
// through the front end process, or not at all (not in a swarm).
func (s *Server) swarmNetworks(ctx context.Context) (engine.SwarmBackend, http.Handler, error) {
	if sb := s.be.Swarm; sb != nil {
		if sb.SwarmInfo(ctx).LocalNodeState != swarm.LocalNodeStateActive {
			return nil, nil, nil
		}
		return sb, nil, nil
	}
	if s.swarmProc == nil || s.swarmProc.SwarmInfo(ctx).LocalNodeState != swarm.LocalNodeStateActive {
		return nil, nil, nil
	}
	f, err := s.swarmProc.Forwarder(ctx, true)
	return nil, f, err
}

// bufferWriter keeps a forwarded answer for the handler to merge.
type bufferWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(code int)        { b.code = code }

// swarmNetworkList lists the swarm's networks, in process or forwarded.
func (s *Server) swarmNetworkList(ctx context.Context, r *http.Request, f filters.Args) ([]network.Summary, error) {
	sb, fwd, err := s.swarmNetworks(ctx)
	if err != nil || (sb == nil && fwd == nil) {
		return nil, err
	}
	var list []network.Inspect
	if sb != nil {
		if list, err = sb.SwarmNetworkList(ctx, f); err != nil {
			return nil, err
		}
	} else {
		req := r.Clone(ctx)
		req.Body = http.NoBody
		bw := &bufferWriter{h: http.Header{}, code: http.StatusOK}
		fwd.ServeHTTP(bw, req)
		if bw.code != http.StatusOK {
			return nil, fmt.Errorf("swarm networks: %d %s", bw.code, strings.TrimSpace(bw.buf.String()))
		}
		if err := json.Unmarshal(bw.buf.Bytes(), &list); err != nil {
			return nil, fmt.Errorf("swarm networks: %w", err)
		}
	}
	out := make([]network.Summary, 0, len(list))
	for _, n := range list {
		out = append(out, network.Summary{Network: n.Network})
	}
	return out, nil
}

// overlayCreate handles a network create with the overlay driver: the
// swarm's (in process or forwarded), else dockerd's 503.
func (s *Server) overlayCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, req network.CreateRequest) error {
	sb, fwd, err := s.swarmNetworks(ctx)
	if err != nil {
		return err
	}
	switch {
	case sb != nil:
		resp, err := sb.SwarmNetworkCreate(ctx, req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, resp)
	case fwd != nil:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		fwd.ServeHTTP(w, r)
		return nil
	}
	// dockerd answers this one with a 500, not the 503 of the swarm routes.
	return errors.New(errNotSwarmManager.Error())
}

// swarmNetworkFallback answers inspect or remove of a network berthd does
// not have from the swarm's, when in one.
func (s *Server) swarmNetworkFallback(ctx context.Context, w http.ResponseWriter, r *http.Request, ref string, local error) error {
	if !errdefs.IsNotFound(local) {
		return local
	}
	sb, fwd, err := s.swarmNetworks(ctx)
	if err != nil || (sb == nil && fwd == nil) {
		return local
	}
	if fwd != nil {
		fwd.ServeHTTP(w, r)
		return nil
	}
	if r.Method == http.MethodDelete {
		if err := sb.SwarmNetworkRemove(ctx, ref); err != nil {
			if errdefs.IsNotFound(err) {
				return local
			}
			return err
		}
		return noContent(w)
	}
	n, err := sb.SwarmNetworkInspect(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return local
		}
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}
