package cli

import (
	"net/url"
	"strings"

	"github.com/berth-project/berth/internal/client"
)

// filterQuery encodes repeated -f key=value flags in docker's map form.
func filterQuery(filters []string) url.Values { return client.ParseFilters(filters).Query() }

// splitRepoTag splits "repo:tag" (a port in the registry host is not a tag).
func splitRepoTag(ref string) (string, string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
