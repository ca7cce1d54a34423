package client

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Filters is the Engine API's filters argument: the values of each key.
type Filters map[string][]string

// ParseFilters reads --filter options ("key=value", the key lower-cased as
// docker's CLI does); none gives nil Filters.
func ParseFilters(opts []string) Filters {
	if len(opts) == 0 {
		return nil
	}
	f := Filters{}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		f[k] = append(f[k], v)
	}
	return f
}

// Query is f as a request's query: the map form {"key":{"value":true}}
// that every engine since API 1.22 reads; nil Filters send no parameter.
func (f Filters) Query() url.Values {
	q := url.Values{}
	if f == nil {
		return q
	}
	m := make(map[string]map[string]bool, len(f))
	for k, vs := range f {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		for _, v := range vs {
			m[k][v] = true
		}
	}
	b, _ := json.Marshal(m)
	q.Set("filters", string(b))
	return q
}
