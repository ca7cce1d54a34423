package system

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	imagecmd "github.com/berth-project/berth/internal/cli/image"
	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

// dfRow is one line of the `system df` summary.
type dfRow struct {
	Type, TotalCount, Active, Size, Reclaimable string
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r dfRow) MarshalJSON() ([]byte, error) { return command.MarshalRow(r.fields()) }

func (r dfRow) fields() map[string]any {
	return map[string]any{"Type": r.Type, "TotalCount": r.TotalCount, "Active": r.Active, "Size": r.Size, "Reclaimable": r.Reclaimable}
}

func bytesSize(n int64) string { return units.BytesSize(float64(n)) }

func withPercent(reclaim, total int64) string {
	if total > 0 {
		return fmt.Sprintf("%s (%d%%)", units.HumanSize(float64(reclaim)), reclaim*100/total)
	}
	return units.HumanSize(float64(reclaim))
}

func dfRows(du *client.DiskUsage) []any {
	var activeImg int
	var usedImg int64
	for _, i := range du.Images {
		if i.Containers > 0 {
			activeImg++
			if i.Size != -1 && i.SharedSize != -1 {
				usedImg += i.Size - i.SharedSize
			}
		}
	}
	var activeCtr int
	var ctrSize, ctrReclaim int64
	for _, c := range du.Containers {
		ctrSize += c.SizeRw
		switch c.State {
		case "running", "paused", "restarting":
			activeCtr++
		default:
			ctrReclaim += c.SizeRw
		}
	}
	var activeVol int
	var volSize, volReclaim int64
	for _, v := range du.Volumes {
		if v.UsageData == nil || v.UsageData.Size < 0 {
			continue
		}
		volSize += v.UsageData.Size
		if v.UsageData.RefCount > 0 {
			activeVol++
		} else {
			volReclaim += v.UsageData.Size
		}
	}
	var activeBC int
	var bcSize, bcReclaim int64
	for _, b := range du.BuildCache {
		bcSize += b.Size
		if b.InUse {
			activeBC++
		}
		if !b.InUse && !b.Shared {
			bcReclaim += b.Size
		}
	}
	hs := func(n int64) string { return units.HumanSize(float64(n)) }
	return []any{
		dfRow{"Images", strconv.Itoa(len(du.Images)), strconv.Itoa(activeImg), hs(du.LayersSize), withPercent(du.LayersSize-usedImg, du.LayersSize)},
		dfRow{"Containers", strconv.Itoa(len(du.Containers)), strconv.Itoa(activeCtr), hs(ctrSize), withPercent(ctrReclaim, ctrSize)},
		dfRow{"Local Volumes", strconv.Itoa(len(du.Volumes)), strconv.Itoa(activeVol), hs(volSize), withPercent(volReclaim, volSize)},
		dfRow{"Build Cache", strconv.Itoa(len(du.BuildCache)), strconv.Itoa(activeBC), hs(bcSize), hs(bcReclaim)},
	}
}

// DfOptions are `system df`'s flags.
type DfOptions struct {
	Verbose bool
	Format  string
}

func newDfCmd(e *command.Env) *cobra.Command {
	var o DfOptions
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show docker disk usage",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return Df(cmd.Context(), c, o, e.Out)
		}),
	}
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

// Df is `system df`: a row per kind of object, or with Verbose the
// objects themselves.
func Df(ctx context.Context, c *client.Client, o DfOptions, out io.Writer) error {
	du, err := c.DiskUsage(ctx)
	if err != nil {
		return err
	}
	if o.Verbose {
		return printDfVerbose(out, &du)
	}
	format := o.Format
	if format == "" {
		format = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
	}
	headers := map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
	return command.Table{Format: format, Headers: headers}.Render(out, dfRows(&du))
}

// dfImageRows is one row per image under its first tag, as docker's
// df -v shows them (images lists every tag).
func dfImageRows(list []image.Summary, now time.Time) []any {
	rows := make([]any, 0, len(list))
	for _, img := range list {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 && img.RepoTags[0] != "<none>:<none>" {
			repo, tag = command.SplitRepoTag(img.RepoTags[0])
		}
		rows = append(rows, imagecmd.NewRow(img, repo, tag, now))
	}
	return rows
}

func printDfVerbose(w io.Writer, du *client.DiskUsage) error {
	now := time.Now()
	fmt.Fprintf(w, "Images space usage:\n\n")
	imgFmt := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
	if err := (command.Table{Format: imgFmt, Headers: imagecmd.Headers}).Render(w, dfImageRows(du.Images, now)); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nContainers space usage:\n\n")
	ctrFmt := "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
	rows := make([]any, len(du.Containers))
	for i, c := range du.Containers {
		c.SizeRootFs = 0 // docker's df shows only the writable layer
		rows[i] = containercmd.PsRow(c, true, now)
	}
	if err := (command.Table{Format: ctrFmt, Headers: containercmd.PsHeaders}).Render(w, rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nLocal Volumes space usage:\n\n")
	var vrows []any
	for _, v := range du.Volumes {
		links, size := "N/A", "N/A"
		if v.UsageData != nil {
			links = strconv.FormatInt(v.UsageData.RefCount, 10)
			if v.UsageData.Size >= 0 {
				size = units.HumanSize(float64(v.UsageData.Size))
			}
		}
		vrows = append(vrows, map[string]string{"Name": v.Name, "Links": links, "Size": size})
	}
	vh := map[string]string{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
	if err := (command.Table{Format: "table {{.Name}}\t{{.Links}}\t{{.Size}}", Headers: vh}).Render(w, vrows); err != nil {
		return err
	}
	var bc int64
	for _, b := range du.BuildCache {
		bc += b.Size
	}
	fmt.Fprintf(w, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(bc)))
	var brows []any
	for _, b := range du.BuildCache {
		last := ""
		if b.LastUsedAt != nil {
			last = command.HumanDuration(now.Sub(*b.LastUsedAt)) + " ago"
		}
		brows = append(brows, map[string]string{"ID": command.TruncID(b.ID), "Type": b.Type, "Size": units.HumanSize(float64(b.Size)),
			"Created": command.HumanDuration(now.Sub(b.CreatedAt)) + " ago", "LastUsed": last,
			"Usage": strconv.Itoa(b.UsageCount), "Shared": strconv.FormatBool(b.Shared)})
	}
	bh := map[string]string{"ID": "CACHE ID", "Type": "CACHE TYPE", "Size": "SIZE", "Created": "CREATED",
		"LastUsed": "LAST USED", "Usage": "USAGE", "Shared": "SHARED"}
	return command.Table{Format: "table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}", Headers: bh}.Render(w, brows)
}
