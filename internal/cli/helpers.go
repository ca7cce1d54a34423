package cli

import (
	"encoding/json"
	"net/url"
	"strings"
)

// filterQuery encodes repeated -f key=value flags in docker's map form:
// {"key":{"value":true}}.
func filterQuery(filters []string) url.Values {
	q := url.Values{}
	if len(filters) == 0 {
		return q
	}
	m := map[string]map[string]bool{}
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][v] = true
	}
	b, _ := json.Marshal(m)
	q.Set("filters", string(b))
	return q
}

// splitRepoTag splits "repo:tag" (a port in the registry host is not a tag).
func splitRepoTag(ref string) (string, string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
