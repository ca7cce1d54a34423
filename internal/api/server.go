// Package api is berthd's HTTP layer: the Docker Engine API router, its
// middleware (version window, response headers, error mapping) and one
// handler per route. Handlers decode the request, call one backend method
// and encode the answer; all engine logic lives behind the interfaces of
// internal/engine.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/engine"
)

// API versions this server speaks. 1.50 is docker CLI 28's own maximum, so
// it talks to us without downgrading.
const (
	MaxAPIVersion = "1.50"
	MinAPIVersion = "1.24"
)

// Options configure a Server.
type Options struct {
	Version   string // engine version, for the Server header
	GitCommit string
	Logger    *slog.Logger
	// ShutdownTimeout bounds the graceful stop of plain requests when Serve's
	// context ends (default 5s). Hijacked and streaming connections are not
	// waited for.
	ShutdownTimeout time.Duration
	// SwarmProcess, for berthd, is the swarm front end in its own process;
	// Backends.Swarm is then nil.
	SwarmProcess SwarmProcess
}

// Backends are the engine's parts the server routes to. System,
// Containers, Exec and Images are required. Without Networks, Volumes or
// Auth their routes are left out (404); without Build, /build answers 501.
type Backends struct {
	System     engine.SystemBackend
	Containers engine.ContainerBackend
	Exec       engine.ExecBackend
	Images     engine.ImageBackend
	Networks   engine.NetworkBackend
	Volumes    engine.VolumeBackend
	Auth       engine.AuthBackend
	Build      engine.BuildBackend
	// Swarm serves the swarm endpoints; nil answers them as a node that
	// is not in a swarm.
	Swarm engine.SwarmBackend
	// Cluster serves /berth/cluster...; nil leaves those routes out.
	Cluster engine.ClusterBackend
}

// Server serves the Engine API over the engine's backends.
type Server struct {
	be Backends
	// swarmProc is set instead of be.Swarm when the front end runs apart.
	swarmProc SwarmProcess
	opts      Options
	log       *slog.Logger
	handler   http.Handler

	cgroupOnce sync.Once
	cgroupV2   bool
}

// NewServer builds the router for be.
func NewServer(be Backends, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	s := &Server{be: be, swarmProc: opts.SwarmProcess, opts: opts, log: opts.Logger}
	rt := newRouter()
	s.registerSystem(rt)
	s.registerContainers(rt)
	s.registerContainerIO(rt)
	s.registerExec(rt)
	s.registerImages(rt)
	s.registerVolumes(rt)
	s.registerNetworks(rt)
	s.registerAuth(rt)
	s.registerBuild(rt)
	s.registerSwarm(rt)
	s.registerCluster(rt)
	s.handler = s.middleware(rt)
	return s
}

// Handler returns the full handler chain (for tests and custom listeners).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on l until ctx ends, then shuts down gracefully.
// Hijacked connections (attach, exec) are not tracked by http.Server, so the
// daemon stops without waiting for them; the caller's teardown ends them.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// Plain requests run to completion during a graceful shutdown; long
	// polls (events, logs -f, wait, stats) watch stopping and end at once.
	stopping, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	base := context.WithValue(context.WithoutCancel(ctx), stoppingKey, stopping)
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	hs.RegisterOnShutdown(stop)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			// Long polls (logs -f, events, wait) never go idle; cut them.
			hs.Close()
		}
	}()
	err := hs.Serve(l)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return ctx.Err()
	}
	return err
}

// longPoll derives a context for a request that may stay open indefinitely:
// it also ends when the server starts shutting down.
func longPoll(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if stopping, ok := ctx.Value(stoppingKey).(context.Context); ok {
		stopWatch := context.AfterFunc(stopping, cancel)
		return ctx, func() { stopWatch(); cancel() }
	}
	return ctx, cancel
}
