package cli

import (
	"net/url"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
)

// filterQuery encodes repeated -f key=value flags in docker's map form.
func filterQuery(filters []string) url.Values { return client.ParseFilters(filters).Query() }

// splitRepoTag splits "repo:tag" (a port in the registry host is not a tag).
func splitRepoTag(ref string) (string, string) { return command.SplitRepoTag(ref) }

// setFlag sets k=1 in q when on.
func setFlag(q url.Values, k string, on bool) {
	if on {
		q.Set(k, "1")
	}
}

// orDefault is s, or d when s is empty.
func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
