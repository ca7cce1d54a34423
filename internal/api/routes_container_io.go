package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/stdcopy"
	"github.com/moby/moby/api/types/container"
)

func (s *Server) registerContainerIO(rt *router) {
	rt.post("/containers/{name}/wait", s.containerWait)
	rt.post("/containers/{name}/attach", s.containerAttach)
	rt.get("/containers/{name}/logs", s.containerLogs)
	rt.get("/containers/{name}/stats", s.containerStats)
	rt.get("/containers/{name}/export", s.containerExport)
	rt.head("/containers/{name}/archive", s.archiveStat)
	rt.get("/containers/{name}/archive", s.archiveGet)
	rt.put("/containers/{name}/archive", s.archivePut)
}

// waitBody keeps "Error":null, which dockerd sends and WaitResponse omits.
type waitBody struct {
	Error      *container.WaitExitError `json:"Error"`
	StatusCode int64                    `json:"StatusCode"`
}

// containerWait sends the 200 header at once: docker run opens the wait
// before start and only proceeds when the response head has arrived.
func (s *Server) containerWait(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	ctx, cancel := longPoll(ctx)
	defer cancel()
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return errdefs.Invalidf("invalid condition: %q", cond)
	}
	if cond == "" {
		cond = container.WaitConditionNotRunning
	}
	ch, err := s.be.Containers.ContainerWait(ctx, v["name"], cond)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if waitHeaderEarly(ctx) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
	}
	var body waitBody
	select {
	case <-ctx.Done():
		return nil
	case res, ok := <-ch:
		if !ok {
			body.Error = &container.WaitExitError{Message: "wait ended without a result"}
			body.StatusCode = -1
		} else {
			body.Error, body.StatusCode = res.Error, res.StatusCode
		}
	}
	return json.NewEncoder(w).Encode(body)
}

func (s *Server) containerAttach(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	cfg := &engine.StreamConfig{DetachKeys: r.URL.Query().Get("detachKeys")}
	for _, p := range []struct {
		key string
		dst *bool
	}{{"stdin", &cfg.UseStdin}, {"stdout", &cfg.UseStdout}, {"stderr", &cfg.UseStderr}, {"logs", &cfg.Logs}, {"stream", &cfg.Stream}} {
		b, err := boolValue(r, p.key)
		if err != nil {
			return err
		}
		*p.dst = b
	}
	h := newHijacker(ctx, w, r)
	cfg.GetStreams = h.getStreams
	err := s.be.Containers.ContainerAttach(ctx, v["name"], cfg)
	if !h.hijacked() {
		return err
	}
	h.finish(err)
	return nil
}

func (s *Server) containerLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	ctx, cancel := longPoll(ctx)
	defer cancel()
	opts, err := logsQuery(r, nil, errdefs.Invalidf("Bad parameters: you must choose at least one stream"))
	if err != nil {
		return err
	}
	if opts.Until, err = timeValue(r, "until"); err != nil {
		return err
	}
	msgs, tty, err := s.be.Containers.ContainerLogs(ctx, v["name"], opts)
	if err != nil {
		return err
	}
	return streamLogs(ctx, w, msgs, !tty, func(dst []byte, m engine.LogMessage) ([]byte, string) {
		if opts.Timestamps {
			dst = m.Time.UTC().AppendFormat(dst, timestampFormat)
			dst = append(dst, ' ')
		}
		return append(dst, m.Line...), m.Stream
	})
}

// logsQuery reads what the logs of a container, a service and a task share
// in their query, in dockerd's order: the streams and flags (details too
// where details is not nil), at least one stream (noStream is the error
// otherwise: dockerd answers 400 for a container's logs and 500 for the
// others), the tail ("all" when absent) and since.
func logsQuery(r *http.Request, details *bool, noStream error) (engine.LogsOptions, error) {
	opts := engine.LogsOptions{Tail: r.URL.Query().Get("tail")}
	flags := []struct {
		key string
		dst *bool
	}{{"stdout", &opts.Stdout}, {"stderr", &opts.Stderr}, {"follow", &opts.Follow}, {"timestamps", &opts.Timestamps}, {"details", details}}
	for _, p := range flags {
		if p.dst == nil {
			continue
		}
		b, err := boolValue(r, p.key)
		if err != nil {
			return opts, err
		}
		*p.dst = b
	}
	if !opts.Stdout && !opts.Stderr {
		return opts, noStream
	}
	if opts.Tail == "" {
		opts.Tail = "all"
	}
	var err error
	opts.Since, err = timeValue(r, "since")
	return opts, err
}

// timestampFormat is RFC 3339 with fixed-width nanoseconds, as dockerd
// prefixes log lines, so columns line up.
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// streamLogs answers 200 and writes each message of msgs as the line
// format makes of it, to stdout or stderr by the stream it names
// (multiplexed, or both straight to w for a TTY's logs), flushed, until
// msgs ends or the client goes away.
func streamLogs[M any](ctx context.Context, w http.ResponseWriter, msgs <-chan M, multiplexed bool, format func(dst []byte, m M) (line []byte, stream string)) error {
	w.Header().Set("Content-Type", streamType(ctx, multiplexed))
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	fl.Flush()
	var stdout, stderr io.Writer = w, w
	if multiplexed {
		stdout, stderr = stdcopy.NewStreams(w)
	}
	var line []byte
	for {
		var m M
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case m, ok = <-msgs:
			if !ok {
				return nil
			}
		}
		var stream string
		line, stream = format(line[:0], m)
		dst := stdout
		if stream == "stderr" {
			dst = stderr
		}
		if _, err := dst.Write(line); err != nil {
			return err
		}
		fl.Flush()
	}
}

// containerStats answers one JSON document (stream=0) or one per line,
// flushed, until the client goes away.
func (s *Server) containerStats(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	ctx, cancel := longPoll(ctx)
	defer cancel()
	stream, err := boolDefault(r, "stream", true)
	if err != nil {
		return err
	}
	oneShot, err := boolValue(r, "one-shot")
	if err != nil {
		return err
	}
	if oneShot && stream {
		return errdefs.Invalidf("cannot have stream=true and one-shot=true")
	}
	fl := http.NewResponseController(w)
	started := false
	emit := func(st *container.StatsResponse) error {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json")
			if !stream {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			}
			w.WriteHeader(http.StatusOK)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return fl.Flush()
	}
	err = s.be.Containers.ContainerStats(ctx, v["name"], stream, oneShot, emit)
	if started && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (s *Server) containerExport(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	w.Header().Set("Content-Type", "application/x-tar")
	return s.be.Containers.ContainerExport(ctx, v["name"], w)
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalidf("path cannot be empty")
	}
	return p, nil
}

// setPathStat sets X-Docker-Container-Path-Stat: docker cp reads the
// target's type and mode from it before sending or unpacking a tar.
func setPathStat(w http.ResponseWriter, st *container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func (s *Server) archiveStat(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.be.Containers.ContainerStatPath(ctx, v["name"], p)
	if err != nil {
		return err
	}
	return emptyOK(w, setPathStat(w, st))
}

func (s *Server) archiveGet(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	rc, st, err := s.be.Containers.ContainerArchive(ctx, v["name"], p)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rc)
	return err
}

func (s *Server) archivePut(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	opts := engine.ArchiveOptions{Path: p}
	if opts.NoOverwriteDirNonDir, err = boolValue(r, "noOverwriteDirNonDir"); err != nil {
		return err
	}
	if opts.CopyUIDGID, err = boolValue(r, "copyUIDGID"); err != nil {
		return err
	}
	return emptyOK(w, s.be.Containers.ContainerExtract(ctx, v["name"], opts, r.Body))
}
