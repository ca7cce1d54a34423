// Package cri serves the Kubernetes Container Runtime Interface (CRI v1,
// k8s.io/cri-api) over gRPC, so a kubelet runs pods on berthd. It is a
// front end of the engine like internal/api: a pod's containers are the
// engine's containers (with io.kubernetes.* labels), images come from the
// engine's one image store, and exec/attach/logs/stats go through the same
// monitors and runtime.
//
// A pod sandbox is not a container here: its network, IPC and UTS
// namespaces are pinned by bind mounts (no pause process, see nspin.go),
// its network comes from CNI (internal/cni), and its record lives in
// <state-dir>/sandboxes/<id>/ beside its /etc files.
package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/cni"
	"github.com/berth-project/berth/internal/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
)

// Options configure the CRI server.
type Options struct {
	Engine Engine
	// StateDir keeps sandbox records (persistent, under the data root).
	StateDir string
	// RunDir keeps pinned namespaces (the exec root: lost at reboot, as
	// the namespaces are).
	RunDir string
	// DataRoot is the engine's data root (image filesystem stats).
	DataRoot string
	// CNIConfDir and CNIBinDirs locate the pod network's config and plugins.
	CNIConfDir string
	CNIBinDirs []string
	// StreamAddr is the address of the exec/attach/port-forward server;
	// default 127.0.0.1:0 (any free port on loopback).
	StreamAddr string
	// PausePath is the berth-pause binary, PID 1 of pods that share a PID
	// namespace.
	PausePath string
	// RuntimeVersion is berthd's version, reported by Version.
	RuntimeVersion string
	Logger         *slog.Logger
}

// Server implements runtimeapi.RuntimeServiceServer and ImageServiceServer.
// Calls it does not implement answer codes.Unimplemented through the
// embedded Unimplemented servers.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	opts      Options
	eng       Engine
	log       *slog.Logger
	cni       *cni.Manager
	sandboxes *sandboxStore
	stream    streaming.Server
	// podMu serializes sandbox and container lifecycle calls of one pod
	// (the kubelet calls them concurrently for different pods only).
	podMu sync.Map // sandbox id -> *sync.Mutex
	// nameMu guards reservations of sandbox names.
	nameMu sync.Mutex
}

// New makes the server, loads the sandbox records and starts the
// streaming server.
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("cri: no engine")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StreamAddr == "" {
		opts.StreamAddr = "127.0.0.1:0"
	}
	for _, d := range []string{opts.StateDir, opts.RunDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	s := &Server{
		opts: opts,
		eng:  opts.Engine,
		log:  opts.Logger,
		cni:  cni.New(opts.CNIConfDir, opts.CNIBinDirs, filepath.Join(opts.StateDir, "cni-cache")),
	}
	var err error
	if s.sandboxes, err = loadSandboxes(filepath.Join(opts.StateDir, "sandboxes")); err != nil {
		return nil, err
	}
	if err := s.startStreaming(); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve answers CRI calls on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(16<<20), grpc.MaxSendMsgSize(16<<20), grpc.UnaryInterceptor(s.logCall))
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
	stop := context.AfterFunc(ctx, g.Stop)
	defer stop()
	err := g.Serve(l)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// logCall times each unary call at debug level (berthd --debug): where a
// kubelet's pod start spends its time, without a proxy in between.
func (s *Server) logCall(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	t := time.Now()
	resp, err := h(ctx, req)
	s.log.Debug("cri call", "method", info.FullMethod, "took", time.Since(t), "err", err)
	return resp, err
}

// Close stops the streaming server.
func (s *Server) Close() error {
	if s.stream != nil {
		return s.stream.Stop()
	}
	return nil
}

func (s *Server) lockPod(id string) func() {
	v, _ := s.podMu.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// grpcError maps the engine's error classes to gRPC codes; errors that
// already carry a status pass through.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errdefs.IsNotFound(err):
		return status.Error(codes.NotFound, err.Error())
	case errdefs.IsInvalid(err):
		return status.Error(codes.InvalidArgument, err.Error())
	case errdefs.IsConflict(err):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

func invalidf(format string, a ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, a...))
}

func notFoundf(format string, a ...any) error {
	return status.Error(codes.NotFound, fmt.Sprintf(format, a...))
}
