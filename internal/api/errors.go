package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-project/berth/internal/errdefs"
)

// statusFor is the one place an error class becomes an HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrNotModified):
		return http.StatusNotModified
	case errors.Is(err, errdefs.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errdefs.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errdefs.ErrNotImplemented):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Message string `json:"message"`
}

// writeError answers with the error's status and {"message": ...}; a 304
// has no body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusFor(err)
	if code >= 500 {
		s.log.Error("handler failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	} else {
		s.log.Debug("request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	h := w.Header()
	// A handler may have set a streaming or tar type before failing.
	h.Del("Content-Length")
	h.Del("X-Docker-Container-Path-Stat")
	if code == http.StatusNotModified {
		h.Del("Content-Type")
		w.WriteHeader(code)
		return
	}
	writeJSON(w, code, errorBody{Message: err.Error()})
}

// writeJSON encodes v like dockerd: HTML characters unescaped, one trailing
// newline.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
