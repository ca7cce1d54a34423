// Package image is `berth image` and its top-level forms (images, pull,
// push, tag, rmi, history, import, load, save): docker CLI 28's flags,
// output and exit statuses over internal/client's typed image calls. Each
// command is a cobra definition over an options struct and a function
// taking the client, the options and writers, testable without cobra.
package image

import (
	"context"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

// NewCommand is `berth image`; extra are subcommands kept elsewhere
// (build).
func NewCommand(e *command.Env, extra ...*cobra.Command) *cobra.Command {
	return command.Group("image", "Manage images", append(Commands(e), extra...)...)
}

// Commands are the group's subcommands; the root also offers some at the
// top level ("images" for "image ls", "rmi", "pull"...).
func Commands(e *command.Env) []*cobra.Command {
	return []*cobra.Command{
		newListCmd(e), newInspectCmd(e), newHistoryCmd(e), newTagCmd(e), newRemoveCmd(e),
		newImportCmd(e), newLoadCmd(e), newSaveCmd(e), newPruneCmd(e), newPullCmd(e), newPushCmd(e),
	}
}

const (
	imagesDefaultFormat  = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	imagesDigestFormat   = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	historyDefaultFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

// Headers are the column titles of image rows.
var Headers = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
}

// Row is one line of `images` (and of `system df -v`): an image under
// one of its names.
type Row struct {
	img       image.Summary
	repo, tag string
	digest    string
	trunc     bool
	now       time.Time
}

// NewRow is img's row under repo:tag, with its ID cut to 12 characters.
func NewRow(img image.Summary, repo, tag string, now time.Time) Row {
	return Row{img: img, repo: repo, tag: tag, digest: "<none>", trunc: true, now: now}
}

func (r Row) Repository() string { return r.repo }
func (r Row) Tag() string        { return r.tag }
func (r Row) Digest() string     { return r.digest }
func (r Row) ID() string {
	if r.trunc {
		return command.TruncID(r.img.ID)
	}
	return r.img.ID
}
func (r Row) CreatedSince() string { return command.Since(r.now, r.img.Created) }
func (r Row) CreatedAt() string    { return time.Unix(r.img.Created, 0).String() }
func (r Row) Size() string         { return command.HumanSize(r.img.Size) }
func (r Row) Containers() string {
	if r.img.Containers < 0 {
		return "N/A"
	}
	return strconv.FormatInt(r.img.Containers, 10)
}
func (r Row) SharedSize() string {
	if r.img.SharedSize < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.SharedSize))
}
func (r Row) UniqueSize() string {
	if r.img.SharedSize < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.Size - r.img.SharedSize))
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r Row) MarshalJSON() ([]byte, error) { return command.MarshalRow(r.fields()) }

func (r Row) fields() map[string]any {
	return map[string]any{"Repository": r.repo, "Tag": r.tag, "Digest": r.digest, "ID": r.ID(),
		"CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(), "Size": r.Size(),
		"Containers": r.Containers(), "SharedSize": r.SharedSize(), "UniqueSize": r.UniqueSize(),
		"VirtualSize": units.HumanSize(float64(r.img.Size))}
}

// Rows expands each image into one row per tag (or per digest when it
// has none), matching digests to repositories like docker does.
func Rows(list []image.Summary, trunc bool, now time.Time) []any {
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
			repo, tag := command.SplitRepoTag(t)
			rows = append(rows, Row{img: img, repo: repo, tag: tag, digest: orNone(digests[repo]), trunc: trunc, now: now})
			added = true
		}
		if !added {
			for _, d := range img.RepoDigests {
				repo, dg, _ := strings.Cut(d, "@")
				if repo == "<none>" {
					continue
				}
				rows = append(rows, Row{img: img, repo: repo, tag: "<none>", digest: dg, trunc: trunc, now: now})
				added = true
			}
		}
		if !added {
			rows = append(rows, Row{img: img, repo: "<none>", tag: "<none>", digest: "<none>", trunc: trunc, now: now})
		}
	}
	return rows
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// ListOptions are `images`' flags and argument.
type ListOptions struct {
	All, Quiet, NoTrunc, Digests bool
	Format                       string
	Filter                       []string
}

func newListCmd(e *command.Env) *cobra.Command {
	var o ListOptions
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    command.RangeArgs(0, 1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if len(args) == 1 {
				o.Filter = append(o.Filter, "reference="+args[0])
			}
			return List(cmd.Context(), c, o, e.Out)
		}),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.All, "all", "a", false, "Show all images (default hides intermediate images)")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVar(&o.Digests, "digests", false, "Show digests")
	fs.StringVar(&o.Format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&o.Filter, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// List is `images`.
func List(ctx context.Context, c *client.Client, o ListOptions, out io.Writer) error {
	list, err := c.ImageList(ctx, client.ImageListOptions{All: o.All, Filters: client.ParseFilters(o.Filter)})
	if err != nil {
		return err
	}
	format := o.Format
	switch {
	case o.Quiet:
		format = "{{.ID}}"
	case format == "" || format == "table":
		format = imagesDefaultFormat
		if o.Digests {
			format = imagesDigestFormat
		}
	}
	// Newest first, as docker's CLI orders them.
	sort.SliceStable(list, func(i, j int) bool { return list[i].Created > list[j].Created })
	return command.Table{Format: format, Headers: Headers}.Render(out, Rows(list, !o.NoTrunc, time.Now()))
}

// InspectKind looks up images for the inspect commands.
var InspectKind = command.InspectKind{Name: "image", Fetch: command.Typed((*client.Client).ImageInspectWithRaw)}

func newInspectCmd(e *command.Env) *cobra.Command {
	return command.NewInspectCommand(e, "inspect [OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", InspectKind)
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
	return command.TruncID(r.h.ID)
}

func (r historyRow) CreatedSince() string {
	if !r.human {
		return time.Unix(r.h.Created, 0).Format(time.RFC3339)
	}
	return command.Since(r.now, r.h.Created)
}

func (r historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

func (r historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		by = command.Ellipsis(by, 45)
	}
	return by
}

func (r historyRow) Size() string {
	if r.human {
		return command.HumanSize(r.h.Size)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

func (r historyRow) Comment() string { return r.h.Comment }

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r historyRow) MarshalJSON() ([]byte, error) { return command.MarshalRow(r.fields()) }

func (r historyRow) fields() map[string]any {
	return map[string]any{"ID": r.ID(), "CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(),
		"CreatedBy": r.CreatedBy(), "Size": r.Size(), "Comment": r.Comment()}
}

// HistoryOptions are `history`'s flags.
type HistoryOptions struct {
	Human, NoTrunc, Quiet bool
	Format, Platform      string
}

func newHistoryCmd(e *command.Env) *cobra.Command {
	var o HistoryOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return History(cmd.Context(), c, args[0], o, e.Out)
		}),
	}
	fs := cmd.Flags()
	fs.Bool("help", false, "Print usage") // -H is --human, not help
	fs.BoolVarP(&o.Human, "human", "H", true, "Print sizes and dates in human readable format")
	fs.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Only show image IDs")
	fs.StringVar(&o.Format, "format", "", "Format output using a custom template")
	fs.StringVar(&o.Platform, "platform", "", `Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}

// History is `history`.
func History(ctx context.Context, c *client.Client, ref string, o HistoryOptions, out io.Writer) error {
	p, err := command.ParsePlatform(o.Platform)
	if err != nil {
		return err
	}
	hist, err := c.ImageHistory(ctx, ref, client.ImageHistoryOptions{Platform: p})
	if err != nil {
		return err
	}
	format := o.Format
	switch {
	case o.Quiet:
		format = "{{.ID}}"
	case format == "" || format == "table":
		format = historyDefaultFormat
	}
	now := time.Now()
	rows := make([]any, len(hist))
	for i, h := range hist {
		rows[i] = historyRow{h: h, trunc: !o.NoTrunc, human: o.Human, now: now}
	}
	created := "CREATED"
	if !o.Human {
		created = "CREATED AT"
	}
	headers := map[string]string{"ID": "IMAGE", "CreatedSince": created, "CreatedAt": "CREATED AT",
		"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
	return command.Table{Format: format, Headers: headers}.Render(out, rows)
}
