// Package filters parses and evaluates the Engine API's `filters` query parameter.
//
// Clients send two shapes: the map form {"key":{"value":true}} (docker CLI, Go SDKs)
// and the legacy list form {"key":["value"]} (docker-py / docker-compose 1.x).
// Both decode into Args.
package filters

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
)

// Args is a set of values per filter key.
type Args map[string]map[string]bool

// Parse decodes the `filters` query value. An empty string (or "{}") gives
// empty Args. Malformed JSON is an errdefs.Invalid error.
func Parse(s string) (Args, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Args{}, nil
	}
	var m map[string]map[string]bool
	mapErr := json.Unmarshal([]byte(s), &m)
	if mapErr == nil {
		return normalize(m), nil
	}
	// The legacy list form is what docker-py sends; only try it once the map
	// form failed so a typo in the map form still reports its own error.
	var l map[string][]string
	if err := json.Unmarshal([]byte(s), &l); err == nil {
		a := Args{}
		for k, vs := range l {
			for _, v := range vs {
				a.Add(k, v)
			}
		}
		return a, nil
	}
	return nil, errdefs.Invalid(fmt.Errorf("invalid filter: %w", mapErr))
}

// normalize drops values set to false, which clients never mean as a filter.
func normalize(m map[string]map[string]bool) Args {
	a := Args{}
	for k, vs := range m {
		for v, on := range vs {
			if on {
				a.Add(k, v)
			}
		}
	}
	return a
}

// Add records value under key.
func (a Args) Add(key, value string) {
	if a[key] == nil {
		a[key] = map[string]bool{}
	}
	a[key][value] = true
}

// Encode renders Args in the map form, the one current clients send.
func (a Args) Encode() (string, error) {
	if len(a) == 0 {
		return "", nil
	}
	b, err := json.Marshal(map[string]map[string]bool(a))
	return string(b), err
}

// Len is the number of keys with at least one value.
func (a Args) Len() int {
	n := 0
	for _, vs := range a {
		if len(vs) > 0 {
			n++
		}
	}
	return n
}

// Keys returns the filter keys, sorted.
func (a Args) Keys() []string {
	keys := make([]string, 0, len(a))
	for k, vs := range a {
		if len(vs) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Get returns the values of key, sorted so callers behave deterministically.
func (a Args) Get(key string) []string {
	vs := a[key]
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, 0, len(vs))
	for v := range vs {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Contains reports whether key has any value.
func (a Args) Contains(key string) bool { return len(a[key]) > 0 }

// ExactMatch reports whether source is one of key's values; a key without
// values matches everything.
func (a Args) ExactMatch(key, source string) bool {
	vs := a[key]
	return len(vs) == 0 || vs[source]
}

// UniqueExactMatch is ExactMatch that also requires key to have a single value.
func (a Args) UniqueExactMatch(key, source string) bool {
	vs := a[key]
	if len(vs) == 0 {
		return true
	}
	return len(vs) == 1 && vs[source]
}

// FuzzyMatch reports whether source equals or starts with one of key's
// values (IDs given as a prefix).
func (a Args) FuzzyMatch(key, source string) bool {
	vs := a[key]
	if len(vs) == 0 || vs[source] {
		return true
	}
	for v := range vs {
		if strings.HasPrefix(source, v) {
			return true
		}
	}
	return false
}

// Match reports whether source equals or matches (as an unanchored regular
// expression, Docker's rule for name filters) one of key's values. A key
// without values matches everything.
func (a Args) Match(key, source string) bool {
	vs := a[key]
	if len(vs) == 0 || vs[source] {
		return true
	}
	for v := range vs {
		if re, err := regexp.Compile(v); err == nil && re.MatchString(source) {
			return true
		}
	}
	return false
}

// MatchKVList reports whether labels satisfy every value of key, each
// either "k" (label present) or "k=v" (label k has value v). A key without
// values matches everything.
func (a Args) MatchKVList(key string, labels map[string]string) bool {
	vs := a[key]
	if len(vs) == 0 {
		return true
	}
	for v := range vs {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// GetBoolOrDefault reads a boolean filter such as dangling=true. Several
// conflicting values, or a value that is not a boolean, is an Invalid error.
func (a Args) GetBoolOrDefault(key string, def bool) (bool, error) {
	vs := a[key]
	if len(vs) == 0 {
		return def, nil
	}
	if len(vs) > 1 {
		return def, errdefs.Invalidf("invalid filter '%s'", key)
	}
	for v := range vs {
		switch strings.ToLower(v) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return def, errdefs.Invalidf("invalid filter '%s=%s'", key, v)
	}
	return def, nil
}

// ErrInvalidFilter is wrapped by Validate's errors.
var ErrInvalidFilter = errors.New("invalid filter")

// Validate rejects keys not in allowed with Docker's "invalid filter 'x'".
func (a Args) Validate(allowed ...string) error {
	for k, vs := range a {
		if len(vs) == 0 {
			continue
		}
		ok := false
		for _, x := range allowed {
			if x == k {
				ok = true
				break
			}
		}
		if !ok {
			return errdefs.Invalid(fmt.Errorf("%w '%s'", ErrInvalidFilter, k))
		}
	}
	return nil
}
