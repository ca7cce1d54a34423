package images

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	imagestore "github.com/berth-project/berth/internal/image"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// ImageList serves GET /images/json with dockerd's rules: untagged images
// with children (intermediate ones) only with All; a reference filter also
// narrows the names shown; shared sizes and container counts only when
// asked (system df does).
func (b *Backend) ImageList(ctx context.Context, opts engine.ImageListOptions) ([]image.Summary, error) {
	f := opts.Filters
	if err := f.Validate("dangling", "label", "label!", "before", "since", "reference", "until"); err != nil {
		return nil, err
	}
	danglingOnly, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return nil, err
	}
	sel, err := b.imageSelector(ctx, f)
	if err != nil {
		return nil, err
	}
	imgs, err := b.images.List(ctx)
	if err != nil {
		return nil, err
	}
	var kept []*imagestore.Image
	for _, img := range imgs {
		if !sel.match(img) {
			continue
		}
		img.RepoTags = matchingRefs(f["reference"], img.RepoTags)
		img.RepoDigests = matchingRefs(f["reference"], img.RepoDigests)
		if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
			// Unnamed: intermediate images only with -a; none for a
			// reference filter or dangling=false.
			if (!opts.All && b.images.HasChildren(img.ID)) || f.Contains("reference") ||
				(f.Contains("dangling") && !danglingOnly) {
				continue
			}
		} else if danglingOnly && len(img.RepoTags) > 0 {
			continue
		}
		kept = append(kept, img)
	}
	var counts map[digest.Digest]int64
	if opts.SharedSize {
		counts = b.imageUse()
	}
	out := b.images.Summaries(kept, counts, opts.SharedSize)
	return out, nil
}

// resolveImage finds ref, failing with dockerd's "No such image: name:tag".
func (b *Backend) resolveImage(ctx context.Context, ref string) (*imagestore.Image, error) {
	img, err := b.images.Resolve(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil, imagestore.NoSuchImage(ref)
	}
	return img, err
}

// imageSelector holds the filters that look at an image itself.
type imageSelector struct {
	before, since, until time.Time
	labels               filters.Args
}

func (b *Backend) imageSelector(ctx context.Context, f filters.Args) (*imageSelector, error) {
	sel := &imageSelector{labels: filters.Args{}}
	for _, k := range []string{"label", "label!"} {
		for _, v := range f.Get(k) {
			sel.labels.Add(k, v)
		}
	}
	for _, v := range f.Get("before") {
		img, err := b.resolveImage(ctx, v)
		if err != nil {
			return nil, err
		}
		sel.before = img.Created
	}
	for _, v := range f.Get("since") {
		img, err := b.resolveImage(ctx, v)
		if err != nil {
			return nil, err
		}
		sel.since = img.Created
	}
	var err error
	if sel.until, err = f.Until(); err != nil {
		return nil, err
	}
	return sel, nil
}

func (sel *imageSelector) match(img *imagestore.Image) bool {
	switch {
	case !sel.before.IsZero() && !img.Created.Before(sel.before):
		return false
	case !sel.since.IsZero() && !img.Created.After(sel.since):
		return false
	case !sel.until.IsZero() && img.Created.After(sel.until):
		return false
	}
	return labelsMatch(sel.labels, img.Config.Config.Labels)
}

// labelsMatch applies label= (all must hold) and label!= (none may hold).
func labelsMatch(f filters.Args, labels map[string]string) bool {
	if !f.MatchKVList("label", labels) {
		return false
	}
	return !f.Contains("label!") || !f.MatchKVList("label!", labels)
}

// matchingRefs keeps the names (familiar form) that match one of the
// reference= patterns, which docker matches against the whole reference
// and against the name without tag or digest.
func matchingRefs(patterns map[string]bool, refs []string) []string {
	if len(patterns) == 0 {
		return refs
	}
	out := []string{}
	for _, r := range refs {
		name := r
		if i := strings.Index(name, "@"); i >= 0 {
			name = name[:i]
		} else if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		for p := range patterns {
			if globMatch(p, r) || globMatch(p, name) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// ImageInspect serves GET /images/{name}/json.
func (b *Backend) ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error) {
	img, err := b.images.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return b.images.Inspect(ctx, img)
}

// ImageHistory serves GET /images/{name}/history.
func (b *Backend) ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error) {
	img, err := b.resolveImage(ctx, name)
	if err != nil {
		return nil, err
	}
	return b.images.History(ctx, img)
}

// ImageTag serves POST /images/{name}/tag.
func (b *Backend) ImageTag(ctx context.Context, src, repo, tag string) error {
	img, err := b.resolveImage(ctx, src)
	if err != nil {
		return err
	}
	ref := repo
	if tag != "" {
		ref += ":" + tag
	}
	if err := b.images.Tag(ctx, img.ID, ref); err != nil {
		return err
	}
	b.Announce(img.ID.String(), ref, events.ActionTag)
	return nil
}

// ImageDelete serves DELETE /images/{name}.
func (b *Backend) ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	resp, err := b.images.Delete(ctx, name, force, noPrune, b.usedBy)
	if err != nil {
		return nil, err
	}
	for _, r := range resp {
		if r.Untagged != "" {
			b.Announce("", r.Untagged, events.ActionUnTag)
		}
		if r.Deleted != "" {
			b.Announce(r.Deleted, "", events.ActionDelete)
		}
	}
	return resp, nil
}

// ImageImport serves POST /images/create?fromSrc=.
func (b *Backend) ImageImport(ctx context.Context, opts engine.ImageImportOptions, body io.Reader, progress io.Writer) (string, error) {
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
	img, err := b.images.Import(ctx, src, opts.Changes, opts.Message)
	if err != nil {
		return "", err
	}
	if ref := importRef(opts.Repo, opts.Tag); ref != "" {
		if err := b.images.Tag(ctx, img.ID, ref); err != nil {
			return "", err
		}
	}
	b.Announce(img.ID.String(), importRef(opts.Repo, opts.Tag), events.ActionImport)
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
func (b *Backend) ImageLoad(ctx context.Context, body io.Reader, quiet bool, progress io.Writer) error {
	return b.images.Load(ctx, body, func(msg string) {
		line, _ := json.Marshal(map[string]string{"stream": msg + "\n"})
		progress.Write(append(line, '\n'))
		b.Announce("", strings.TrimPrefix(strings.TrimPrefix(msg, "Loaded image ID: "), "Loaded image: "), events.ActionLoad)
	})
}

// ImageSave serves GET /images/get.
func (b *Backend) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	for _, n := range names {
		if _, err := b.resolveImage(ctx, n); err != nil {
			return err
		}
	}
	return b.images.Save(ctx, names, w)
}

// ImagesPrune serves POST /images/prune: dangling images, or with
// dangling=false all unused ones, filtered by until and label / label!.
func (b *Backend) ImagesPrune(ctx context.Context, f filters.Args) (*image.PruneReport, error) {
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return nil, err
	}
	// As dockerd: any false value means all images, else a true value
	// must be there (the CLI always sends one, -a sends false).
	all := f.ExactMatch("dangling", "false") || f.ExactMatch("dangling", "0")
	if f.Contains("dangling") && !all && !f.ExactMatch("dangling", "true") && !f.ExactMatch("dangling", "1") {
		return nil, errdefs.Invalidf("invalid filter 'dangling=%s'", strings.Join(f.Get("dangling"), ","))
	}
	opts := imagestore.PruneOptions{All: all && f.Contains("dangling")}
	var err error
	if opts.Until, err = f.Until(); err != nil {
		return nil, err
	}
	if f.Contains("label") || f.Contains("label!") {
		labels := filters.Args{}
		for _, k := range []string{"label", "label!"} {
			for _, v := range f.Get(k) {
				labels.Add(k, v)
			}
		}
		opts.Labels = func(l map[string]string) bool { return labelsMatch(labels, l) }
	}
	rep, err := b.images.Prune(ctx, opts, b.usedBy)
	if err != nil {
		return nil, err
	}
	for _, r := range rep.ImagesDeleted {
		if r.Untagged != "" {
			b.Announce("", r.Untagged, events.ActionUnTag)
		}
		if r.Deleted != "" {
			b.Announce(r.Deleted, "", events.ActionDelete)
		}
	}
	b.events.Publish(events.Message{Type: events.ImageEventType, Action: events.ActionPrune,
		Actor: events.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}}})
	return rep, nil
}
