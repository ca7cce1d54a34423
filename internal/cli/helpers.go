package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// confirm asks docker's "Are you sure" question on stdin.
func (a *app) confirm(warning string) bool {
	fmt.Fprintf(a.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	if a.In == nil {
		return false
	}
	line, _ := bufio.NewReader(a.In).ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes"
}

// splitRepoTag splits "repo:tag" (a port in the registry host is not a tag).
func splitRepoTag(ref string) (string, string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
