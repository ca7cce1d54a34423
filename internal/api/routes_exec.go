package api

import (
	"context"
	"io"
	"net/http"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

func (s *Server) registerExec(rt *router) {
	rt.post("/containers/{name}/exec", s.execCreate)
	rt.post("/exec/{id}/start", s.execStart)
	rt.post("/exec/{id}/resize", s.execResize)
	rt.get("/exec/{id}/json", s.execInspect)
}

func (s *Server) execCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req container.ExecCreateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return errdefs.Invalidf("No exec command specified")
	}
	adaptExecConsoleSize(ctx, &req.ConsoleSize)
	id, err := s.be.Exec.ExecCreate(ctx, v["name"], &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

// execStart hijacks like attach unless Detach, which answers 200 with no body
// once the process is started.
func (s *Server) execStart(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	var req container.ExecStartRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	adaptExecConsoleSize(ctx, &req.ConsoleSize)
	if req.Detach {
		err := s.be.Exec.ExecStart(ctx, v["id"], &req, &engine.StreamConfig{GetStreams: noStreams})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h := newHijacker(ctx, w, r)
	h.withHeaders = true
	cfg := &engine.StreamConfig{GetStreams: h.getStreams, UseStdin: true, UseStdout: true, UseStderr: true, Stream: true}
	err := s.be.Exec.ExecStart(ctx, v["id"], &req, cfg)
	if !h.hijacked() {
		return err
	}
	if err != nil {
		// dockerd writes an exec's failure as a line on the stdout stream;
		// the CLI and the SDKs print it and read the exit code from inspect.
		h.writeStdout(err.Error() + "\r\n")
	}
	h.finish(nil)
	return nil
}

// noStreams guards a detached exec: the request is answered with a plain 200.
func noStreams(bool) (io.ReadCloser, io.Writer, io.Writer, error) {
	return nil, nil, nil, errdefs.Invalidf("a detached exec has no streams")
}

func (s *Server) execResize(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	return resize(w, r, func(h, wd uint) error { return s.be.Exec.ExecResize(ctx, v["id"], h, wd) })
}

func (s *Server) execInspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	e, err := s.be.Exec.ExecInspect(ctx, v["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}
