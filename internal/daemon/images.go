package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	imagestore "github.com/berth-project/berth/internal/image"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// ImageList serves GET /images/json.
func (d *Daemon) ImageList(ctx context.Context, all bool, f filters.Args) ([]image.Summary, error) {
	for k := range f {
		switch k {
		case "dangling", "label", "before", "since", "reference", "until":
		default:
			return nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var before, since time.Time
	for v := range f["before"] {
		img, err := d.images.Resolve(ctx, v)
		if err != nil {
			return nil, err
		}
		before = img.Created
	}
	for v := range f["since"] {
		img, err := d.images.Resolve(ctx, v)
		if err != nil {
			return nil, err
		}
		since = img.Created
	}
	counts := d.imageUse()
	out := []image.Summary{}
	for _, img := range imgs {
		dangling := len(img.RepoTags) == 0
		if vs := f["dangling"]; len(vs) > 0 && (vs["true"] || vs["1"]) != dangling {
			continue
		}
		if !before.IsZero() && !img.Created.Before(before) {
			continue
		}
		if !since.IsZero() && !img.Created.After(since) {
			continue
		}
		if !matchLabels(f["label"], img.Config.Config.Labels) {
			continue
		}
		if refs := f["reference"]; len(refs) > 0 && !matchReference(refs, img.RepoTags) {
			continue
		}
		out = append(out, d.images.Summary(img, int(counts[img.ID])))
	}
	return out, nil
}

// matchReference applies `reference=` patterns (path.Match on the familiar
// name, with or without the tag).
func matchReference(patterns map[string]bool, tags []string) bool {
	for p := range patterns {
		for _, t := range tags {
			repo, _, _ := strings.Cut(t, ":")
			if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
				repo = t[:i]
			}
			if globMatch(p, t) || globMatch(p, repo) {
				return true
			}
		}
	}
	return false
}

// imageUse counts containers per image ID.
func (d *Daemon) imageUse() map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	for _, c := range d.containers.list() {
		out[digest.Digest(c.ImageID)]++
	}
	return out
}

// usedBy reports a container using the image, preferring a running one.
func (d *Daemon) usedBy(id digest.Digest) (string, bool) {
	found := ""
	for _, c := range d.containers.list() {
		if c.ImageID != id.String() {
			continue
		}
		c.mu.Lock()
		run := c.running()
		c.mu.Unlock()
		if run {
			return c.ID, true
		}
		found = c.ID
	}
	return found, false
}

// ImageInspect serves GET /images/{name}/json.
func (d *Daemon) ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error) {
	img, err := d.images.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.images.Inspect(ctx, img)
}

// ImageHistory serves GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	img, err := d.images.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.images.History(ctx, img)
}

// ImageTag serves POST /images/{name}/tag.
func (d *Daemon) ImageTag(ctx context.Context, src, repo, tag string) error {
	img, err := d.images.Resolve(ctx, src)
	if err != nil {
		return err
	}
	ref := repo
	if tag != "" {
		ref += ":" + tag
	}
	if err := d.images.Tag(ctx, img.ID, ref); err != nil {
		return err
	}
	d.emitImage(img.ID.String(), ref, events.ActionTag)
	return nil
}

// ImageDelete serves DELETE /images/{name}.
func (d *Daemon) ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	resp, err := d.images.Delete(ctx, name, force, noPrune, d.usedBy)
	if err != nil {
		return nil, err
	}
	for _, r := range resp {
		if r.Untagged != "" {
			d.emitImage("", r.Untagged, events.ActionUnTag)
		}
		if r.Deleted != "" {
			d.emitImage(r.Deleted, "", events.ActionDelete)
		}
	}
	return resp, nil
}

// ImageImport serves POST /images/create?fromSrc=.
func (d *Daemon) ImageImport(ctx context.Context, opts api.ImageImportOptions, body io.Reader, progress io.Writer) (string, error) {
	src := body
	if opts.Source != "-" && opts.Source != "" {
		if !strings.HasPrefix(opts.Source, "http://") && !strings.HasPrefix(opts.Source, "https://") {
			opts.Source = "http://" + opts.Source
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, opts.Source, nil)
		if err != nil {
			return "", errdefs.Invalid(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("import from %s: %w", opts.Source, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("import from %s: %s", opts.Source, resp.Status)
		}
		writeStatus(progress, "Downloading from "+opts.Source)
		src = resp.Body
	}
	img, err := d.images.Import(ctx, src, opts.Changes, opts.Message)
	if err != nil {
		return "", err
	}
	if ref := importRef(opts.Repo, opts.Tag); ref != "" {
		if err := d.images.Tag(ctx, img.ID, ref); err != nil {
			return "", err
		}
	}
	d.emitImage(img.ID.String(), importRef(opts.Repo, opts.Tag), events.ActionImport)
	writeStatus(progress, img.ID.String())
	return img.ID.String(), nil
}

func importRef(repo, tag string) string {
	if repo == "" {
		return ""
	}
	if tag != "" {
		return repo + ":" + tag
	}
	return repo
}

func writeStatus(w io.Writer, status string) {
	b, _ := json.Marshal(map[string]string{"status": status})
	w.Write(append(b, '\r', '\n'))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// ImageLoad serves POST /images/load.
func (d *Daemon) ImageLoad(ctx context.Context, body io.Reader, quiet bool, progress io.Writer) error {
	return d.images.Load(ctx, body, func(msg string) {
		b, _ := json.Marshal(map[string]string{"stream": msg + "\n"})
		progress.Write(append(b, '\n'))
		d.emitImage("", strings.TrimPrefix(strings.TrimPrefix(msg, "Loaded image ID: "), "Loaded image: "), events.ActionLoad)
	})
}

// ImageSave serves GET /images/get.
func (d *Daemon) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	for _, n := range names {
		if _, err := d.images.Resolve(ctx, n); err != nil {
			return err
		}
	}
	return d.images.Save(ctx, names, w)
}

// ImagesPrune serves POST /images/prune.
func (d *Daemon) ImagesPrune(ctx context.Context, f filters.Args) (*image.PruneReport, error) {
	dangling := true
	if vs := f["dangling"]; vs["false"] || vs["0"] {
		dangling = false
	}
	counts := d.imageUse()
	return d.images.Prune(ctx, dangling, func(id digest.Digest) bool { return counts[id] > 0 })
}

var _ = imagestore.CommitOptions{}
