package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

const (
	imagesDefaultFormat  = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	imagesDigestFormat   = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	historyDefaultFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

var imageHeaders = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
}

func imageCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newImagesCmd(a), newImageInspectCmd(a), newHistoryCmd(a), newTagCmd(a), newRmiCmd(a),
		newImportCmd(a), newLoadCmd(a), newSaveCmd(a), newImagePruneCmd(a), newPullCmd(a), newPushCmd(a),
	}
}

// imageRow is one line of `images`: an image under one of its names.
type imageRow struct {
	img       image.Summary
	repo, tag string
	digest    string
	trunc     bool
	now       time.Time
}

func (r imageRow) Repository() string { return r.repo }
func (r imageRow) Tag() string        { return r.tag }
func (r imageRow) Digest() string     { return r.digest }
func (r imageRow) ID() string {
	if r.trunc {
		return truncID(r.img.ID)
	}
	return r.img.ID
}
func (r imageRow) CreatedSince() string { return since(r.now, r.img.Created) }
func (r imageRow) CreatedAt() string    { return time.Unix(r.img.Created, 0).String() }
func (r imageRow) Size() string         { return humanSize(r.img.Size) }
func (r imageRow) Containers() string {
	if r.img.Containers < 0 {
		return "N/A"
	}
	return strconv.FormatInt(r.img.Containers, 10)
}
func (r imageRow) SharedSize() string {
	if r.img.SharedSize < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.SharedSize))
}
func (r imageRow) UniqueSize() string {
	if r.img.SharedSize < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.Size - r.img.SharedSize))
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r imageRow) MarshalJSON() ([]byte, error) { return marshalRow(r.fields()) }

func (r imageRow) fields() map[string]any {
	return map[string]any{"Repository": r.repo, "Tag": r.tag, "Digest": r.digest, "ID": r.ID(),
		"CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(), "Size": r.Size(),
		"Containers": r.Containers(), "SharedSize": r.SharedSize(), "UniqueSize": r.UniqueSize(),
		"VirtualSize": units.HumanSize(float64(r.img.Size))}
}

// imageRows expands each image into one row per tag (or per digest when it
// has none), matching digests to repositories like docker does.
func imageRows(list []image.Summary, trunc bool, now time.Time) []any {
	var rows []any
	for _, img := range list {
		digests := map[string]string{}
		for _, d := range img.RepoDigests {
			if repo, dg, ok := strings.Cut(d, "@"); ok {
				digests[repo] = dg
			}
		}
		added := false
		for _, t := range img.RepoTags {
			if t == "<none>:<none>" {
				continue
			}
			repo, tag := splitRepoTag(t)
			rows = append(rows, imageRow{img: img, repo: repo, tag: tag, digest: orDefault(digests[repo], "<none>"), trunc: trunc, now: now})
			added = true
		}
		if !added {
			for _, d := range img.RepoDigests {
				repo, dg, _ := strings.Cut(d, "@")
				if repo == "<none>" {
					continue
				}
				rows = append(rows, imageRow{img: img, repo: repo, tag: "<none>", digest: dg, trunc: trunc, now: now})
				added = true
			}
		}
		if !added {
			rows = append(rows, imageRow{img: img, repo: "<none>", tag: "<none>", digest: "<none>", trunc: trunc, now: now})
		}
	}
	return rows
}

func newImagesCmd(a *app) *cobra.Command {
	var all, quiet, noTrunc, digests bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				filters = append(filters, "reference="+args[0])
			}
			list, err := c.ImageList(cmd.Context(), client.ImageListOptions{All: all, Filters: client.ParseFilters(filters)})
			if err != nil {
				return err
			}
			switch {
			case quiet:
				format = "{{.ID}}"
			case format == "" || format == "table":
				format = imagesDefaultFormat
				if digests {
					format = imagesDigestFormat
				}
			}
			// Newest first, as docker's CLI orders them.
			sort.SliceStable(list, func(i, j int) bool { return list[i].Created > list[j].Created })
			rows := imageRows(list, !noTrunc, time.Now())
			return table{format: format, headers: imageHeaders}.render(a.Out, rows)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVar(&digests, "digests", false, "Show digests")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// historyRow is one layer line of `history`.
type historyRow struct {
	h            image.HistoryResponseItem
	trunc, human bool
	now          time.Time
}

func (r historyRow) ID() string {
	if r.h.ID == "<missing>" || !r.trunc {
		return r.h.ID
	}
	return truncID(r.h.ID)
}

func (r historyRow) CreatedSince() string {
	if !r.human {
		return time.Unix(r.h.Created, 0).Format(time.RFC3339)
	}
	return since(r.now, r.h.Created)
}

func (r historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

func (r historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		by = ellipsis(by, 45)
	}
	return by
}

func (r historyRow) Size() string {
	if r.human {
		return humanSize(r.h.Size)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

func (r historyRow) Comment() string { return r.h.Comment }

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r historyRow) MarshalJSON() ([]byte, error) { return marshalRow(r.fields()) }

func (r historyRow) fields() map[string]any {
	return map[string]any{"ID": r.ID(), "CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(),
		"CreatedBy": r.CreatedBy(), "Size": r.Size(), "Comment": r.Comment()}
}

func newHistoryCmd(a *app) *cobra.Command {
	var human, noTrunc, quiet bool
	var format, platform string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := parsePlatform(platform)
			if err != nil {
				return err
			}
			hist, err := c.ImageHistory(cmd.Context(), args[0], client.ImageHistoryOptions{Platform: p})
			if err != nil {
				return err
			}
			switch {
			case quiet:
				format = "{{.ID}}"
			case format == "" || format == "table":
				format = historyDefaultFormat
			}
			now := time.Now()
			rows := make([]any, len(hist))
			for i, h := range hist {
				rows[i] = historyRow{h: h, trunc: !noTrunc, human: human, now: now}
			}
			created := "CREATED"
			if !human {
				created = "CREATED AT"
			}
			headers := map[string]string{"ID": "IMAGE", "CreatedSince": created, "CreatedAt": "CREATED AT",
				"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
			return table{format: format, headers: headers}.render(a.Out, rows)
		},
	}
	fs := cmd.Flags()
	fs.Bool("help", false, "Print usage") // -H is --human, not help
	fs.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringVar(&platform, "platform", "", `Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// normalizeName makes a repository name fully qualified, as docker's CLI does
// before tagging ("bb" -> "docker.io/library/bb").
func normalizeName(repo string) string {
	first, _, hasSlash := strings.Cut(repo, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return repo
	}
	if !hasSlash {
		return "docker.io/library/" + repo
	}
	return "docker.io/" + repo
}

func pruneImagesReport(a *app, rep image.PruneReport) {
	if len(rep.ImagesDeleted) > 0 {
		fmt.Fprintln(a.Out, "Deleted Images:")
		for _, d := range rep.ImagesDeleted {
			if d.Untagged != "" {
				fmt.Fprintln(a.Out, "untagged:", d.Untagged)
			}
			if d.Deleted != "" {
				fmt.Fprintln(a.Out, "deleted:", d.Deleted)
			}
		}
		fmt.Fprintln(a.Out)
	}
}

func (a *app) pruneImages(ctx context.Context, all bool, filters []string) (int64, error) {
	c, err := a.client()
	if err != nil {
		return 0, err
	}
	dangling := "dangling=true"
	if all {
		dangling = "dangling=false"
	}
	rep, err := c.ImagesPrune(ctx, client.ParseFilters(append([]string{dangling}, filters...)))
	if err != nil {
		return 0, err
	}
	pruneImagesReport(a, rep)
	return int64(rep.SpaceReclaimed), nil
}
