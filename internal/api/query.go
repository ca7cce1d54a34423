package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
)

// boolValue reads a boolean query parameter. Besides Go's forms it takes
// docker-py's Python spellings (True/False); empty or absent is false.
func boolValue(r *http.Request, key string) (bool, error) {
	s := strings.TrimSpace(r.URL.Query().Get(key))
	switch strings.ToLower(s) {
	case "", "0", "false", "no", "none":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, errdefs.Invalidf("invalid value for %s: %q is not a boolean", key, s)
}

// boolDefault is boolValue with a default for an absent parameter.
func boolDefault(r *http.Request, key string, def bool) (bool, error) {
	if !r.URL.Query().Has(key) {
		return def, nil
	}
	return boolValue(r, key)
}

// intValue reads an integer query parameter; absent or empty is def.
func intValue(r *http.Request, key string, def int) (int, error) {
	s := strings.TrimSpace(r.URL.Query().Get(key))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def, errdefs.Invalidf("invalid value for %s: %q is not an integer", key, s)
	}
	return n, nil
}

// uintValue reads a non-negative integer (terminal sizes).
func uintValue(r *http.Request, key string) (uint, error) {
	s := strings.TrimSpace(r.URL.Query().Get(key))
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errdefs.Invalidf("invalid value for %s: %q", key, s)
	}
	return uint(n), nil
}

// filterArgs parses the `filters` query parameter in either form.
func filterArgs(r *http.Request) (filters.Args, error) {
	return filters.Parse(r.URL.Query().Get("filters"))
}

// stopTimeout reads `t` (docker CLI) or `timeout`; nil means the
// container's own default.
func stopTimeout(r *http.Request) (*int, error) {
	q := r.URL.Query()
	for _, k := range []string{"t", "timeout"} {
		if q.Get(k) == "" {
			continue
		}
		n, err := intValue(r, k, 0)
		if err != nil {
			return nil, err
		}
		return &n, nil
	}
	return nil, nil
}

// timeValue parses since/until: Unix seconds with an optional fraction
// ("1795736309.000000000"), as docker clients send them, or RFC 3339.
func timeValue(r *http.Request, key string) (time.Time, error) {
	s := strings.TrimSpace(r.URL.Query().Get(key))
	// docker-py sends 0 for "not set".
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	sec, frac, hasFrac := strings.Cut(s, ".")
	if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
		var nsec int64
		if hasFrac {
			frac = (frac + "000000000")[:9]
			if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
				return time.Time{}, errdefs.Invalidf("invalid value for %s: %q", key, s)
			}
		}
		return time.Unix(n, nsec), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, errdefs.Invalidf("invalid value for %s: %q", key, s)
}

// decodeJSON reads a JSON request body into v. An empty body leaves v as
// is when allowEmpty; a malformed one is a 400 with the decoder's reason.
// A body must say it is JSON (see checkForJSON).
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	if err := checkForJSON(r); err != nil {
		return err
	}
	if r.Body == nil || r.Body == http.NoBody {
		if allowEmpty {
			return nil
		}
		return errdefs.Invalidf("invalid JSON: got EOF while reading request body")
	}
	err := json.NewDecoder(r.Body).Decode(v)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		if allowEmpty {
			return nil
		}
		return errdefs.Invalidf("invalid JSON: got EOF while reading request body")
	}
	return errdefs.Invalid(fmt.Errorf("invalid JSON: %w", err))
}

// checkForJSON refuses a body that is not declared application/json, as
// dockerd does. A web page can make a browser POST a "simple" request
// (text/plain, form encodings) to any address without a CORS preflight;
// requiring the JSON type, which a simple request cannot carry, keeps such
// a page from creating containers on a daemon that listens on TCP. No
// Content-Type is fine when there is no body.
func checkForJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return errdefs.Invalid(fmt.Errorf("malformed Content-Type header (%s): %w", ct, err))
	}
	if mt != "application/json" {
		return errdefs.Invalidf("unsupported Content-Type header (%s): must be 'application/json'", ct)
	}
	return nil
}

// readBody reads a whole JSON request body (bounded: request bodies of
// these routes are configuration, not data).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("read request body: %w", err))
	}
	return b, nil
}

// decodeJSONBytes is decodeJSON over a body already read; empty is an error.
func decodeJSONBytes(b []byte, v any) error {
	if len(strings.TrimSpace(string(b))) == 0 {
		return errdefs.Invalidf("invalid JSON: got EOF while reading request body")
	}
	// One value, like decodeJSON: dockerd ignores what follows it.
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errdefs.Invalidf("invalid JSON: got EOF while reading request body")
		}
		return errdefs.Invalid(fmt.Errorf("invalid JSON: %w", err))
	}
	return nil
}

// emptyOK answers 200 with no body once the call that err comes from
// succeeded, as dockerd does for actions that return nothing.
func emptyOK(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}
