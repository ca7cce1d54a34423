package cli

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/registry"
	"github.com/spf13/cobra"
)

const searchDefaultFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

var searchHeaders = map[string]string{"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
	"IsOfficial": "OFFICIAL"}

// searchRow is one result of `search`.
type searchRow struct {
	r     registry.SearchResult
	trunc bool
}

func (s searchRow) Name() string { return s.r.Name }

// Description is on one line and, unless --no-trunc, cut to 45 runes.
func (s searchRow) Description() string {
	d := strings.NewReplacer("\n", " ", "\r", " ").Replace(s.r.Description)
	if s.trunc {
		d = ellipsis(d, 45)
	}
	return d
}

func (s searchRow) StarCount() string  { return strconv.Itoa(s.r.StarCount) }
func (s searchRow) IsOfficial() string { return okMark(s.r.IsOfficial) }

func okMark(b bool) string {
	if b {
		return "[OK]"
	}
	return ""
}

// MarshalJSON gives --format json and {{json .}} the row's fields; docker
// writes IsOfficial there as "true"/"false", not "[OK]".
func (s searchRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]any{"Name": s.Name(), "Description": s.Description(), "StarCount": s.StarCount(),
		"IsOfficial": strconv.FormatBool(s.r.IsOfficial)})
}

func newSearchCmd(a *app) *cobra.Command {
	var noTrunc bool
	var limit int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub for images",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, f := range filters {
				if f == "is-automated" || strings.HasPrefix(f, "is-automated=") {
					fmt.Fprintln(a.Err, `WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.`)
				}
			}
			q := filterQuery(filters)
			q.Set("term", args[0])
			if limit != 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			req := client.Request{Method: http.MethodGet, Path: "/images/search", Query: q, Headers: http.Header{}}
			if h := registryAuthHeader(args[0]); h != "" {
				req.Headers.Set("X-Registry-Auth", h)
			}
			var results []registry.SearchResult
			if err := c.Call(cmd.Context(), req, &results); err != nil {
				return err
			}
			if format == "" || format == "table" {
				format = searchDefaultFormat
			}
			rows := make([]any, len(results))
			for i, r := range results {
				rows[i] = searchRow{r: r, trunc: !noTrunc}
			}
			return table{format: format, headers: searchHeaders}.render(a.Out, rows)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	fs.StringVar(&format, "format", "", "Pretty-print search using a Go template")
	fs.IntVar(&limit, "limit", 0, "Max number of search results")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
}
