package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/client/pkg/versions"
)

type ctxKey int

const (
	versionKey ctxKey = iota
	stoppingKey
)

// VersionFromContext returns the API version of the request ("1.50" for
// unversioned paths).
func VersionFromContext(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey).(string); ok {
		return v
	}
	return MaxAPIVersion
}

// versionAtLeast reports whether the request's API version is >= v.
func versionAtLeast(ctx context.Context, v string) bool {
	return versions.GreaterThanOrEqualTo(VersionFromContext(ctx), v)
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+(?:\.[0-9]+)*)(/.*)$`)

// respWriter remembers whether the response has started, so an error that
// happens mid-stream is logged instead of corrupting the body.
type respWriter struct {
	http.ResponseWriter
	started bool
	status  int
}

func (w *respWriter) WriteHeader(code int) {
	if !w.started {
		w.status = code
	}
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.status = http.StatusOK
	}
	w.started = true
	return w.ResponseWriter.Write(p)
}

// Flush lets streaming handlers push each message out.
func (w *respWriter) Flush() {
	if !w.started {
		w.status = http.StatusOK
	}
	w.started = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach Hijack on the real writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware sets dockerd's headers on every response, strips and checks the
// /vX.Y prefix, routes, and maps a handler's error to a status.
func (s *Server) middleware(rt *router) http.Handler {
	server := fmt.Sprintf("Docker/%s (linux)", s.opts.Version)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Api-Version", MaxAPIVersion)
		h.Set("Docker-Experimental", "false")
		h.Set("Ostype", "linux")
		h.Set("Server", server)
		rw := &respWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			// Hijacked streams never set a status through the writer.
			s.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start))
		}()

		path, version := r.URL.Path, MaxAPIVersion
		if m := versionPrefix.FindStringSubmatch(path); m != nil {
			version, path = m[1], m[2]
		}
		if err := checkVersion(version); err != nil {
			s.writeError(rw, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), versionKey, version)
		r = r.WithContext(ctx)
		handler, pattern, vars := rt.lookup(r.Method, path)
		if handler == nil {
			s.writeError(rw, r, errdefs.NotFoundf("page not found"))
			return
		}
		if err := adaptQuery(version, r.Method, pattern, r); err != nil {
			s.writeError(rw, r, err)
			return
		}
		if err := handler(ctx, rw, r, vars); err != nil {
			if rw.started {
				s.log.Warn("error after response started", "method", r.Method, "path", r.URL.Path, "err", err)
				return
			}
			s.writeError(rw, r, err)
		}
	})
}

func checkVersion(v string) error {
	if versions.GreaterThan(v, MaxAPIVersion) {
		return errdefs.Invalidf("client version %s is too new. Maximum supported API version is %s", v, MaxAPIVersion)
	}
	if versions.LessThan(v, MinAPIVersion) {
		return errdefs.Invalidf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
	}
	return nil
}
