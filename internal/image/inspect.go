package image

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/image/layer"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	digest "github.com/opencontainers/go-digest"
)

// Summaries are imgs' entries in GET /images/json. counts (containers
// per image) is nil unless asked for, which Docker shows as -1; shared
// sizes count the layers imgs have in common, as dockerd computes them.
func (s *Store) Summaries(imgs []*Image, counts map[digest.Digest]int64, shared bool) []image.Summary {
	refs := map[digest.Digest]int{}
	if shared {
		for _, img := range imgs {
			for _, c := range layer.ChainIDs(img.Layers) {
				refs[c]++
			}
		}
	}
	out := make([]image.Summary, 0, len(imgs))
	for _, img := range imgs {
		sum := image.Summary{
			Containers:  -1,
			Created:     img.Created.Unix(),
			ID:          img.ID.String(),
			Labels:      img.Config.Config.Labels,
			ParentID:    img.Parent.String(),
			RepoDigests: nonNil(img.RepoDigests),
			RepoTags:    nonNil(img.RepoTags),
			SharedSize:  -1,
			Size:        img.Size,
		}
		if sum.Labels == nil {
			sum.Labels = map[string]string{}
		}
		if counts != nil {
			sum.Containers = counts[img.ID]
		}
		if shared {
			sum.SharedSize = 0
			for _, c := range layer.ChainIDs(img.Layers) {
				if refs[c] > 1 {
					sum.SharedSize += s.layers.Size(c)
				}
			}
		}
		out = append(out, sum)
	}
	return out
}

// HasChildren reports whether another image names id as its parent.
func (s *Store) HasChildren(id digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasChildrenLocked(id)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Inspect is GET /images/{name}/json, shaped like dockerd's answer.
func (s *Store) Inspect(ctx context.Context, img *Image) (*image.InspectResponse, error) {
	cfg := img.Config.Config
	resp := &image.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     nonNil(img.RepoTags),
		RepoDigests:  nonNil(img.RepoDigests),
		Comment:      img.comment,
		Author:       img.Config.Author,
		Config:       &cfg,
		Architecture: img.Config.Architecture,
		Variant:      img.Config.Variant,
		Os:           img.Config.OS,
		OsVersion:    img.Config.OSVersion,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: "overlay2", Data: s.graphDriverData(img)},
		RootFS:       image.RootFS{Type: "layers"},
		Metadata:     image.Metadata{LastTagTime: img.lastTagTime},
	}
	if !img.Created.IsZero() {
		resp.Created = img.Created.Format(time.RFC3339Nano)
	}
	for _, l := range img.Layers {
		resp.RootFS.Layers = append(resp.RootFS.Layers, l.String())
	}
	return resp, nil
}

func (s *Store) graphDriverData(img *Image) map[string]string {
	chains := layer.ChainIDs(img.Layers)
	if len(chains) == 0 {
		return map[string]string{}
	}
	top := s.layers.DiffDir(chains[len(chains)-1])
	data := map[string]string{
		"MergedDir": filepath.Join(filepath.Dir(top), "merged"),
		"UpperDir":  top,
		"WorkDir":   filepath.Join(filepath.Dir(top), "work"),
	}
	var lowers []string
	for i := len(chains) - 2; i >= 0; i-- {
		lowers = append(lowers, s.layers.DiffDir(chains[i]))
	}
	if len(lowers) > 0 {
		data["LowerDir"] = strings.Join(lowers, ":")
	}
	return data
}

// History is GET /images/{name}/history: newest first; only the newest
// entry carries the image's ID and tags, older ones say "<missing>" as
// with Docker for images that were not built locally.
func (s *Store) History(ctx context.Context, img *Image) ([]image.HistoryResponseItem, error) {
	hist := img.Config.History
	chains := layer.ChainIDs(img.Layers)
	out := make([]image.HistoryResponseItem, 0, len(hist))
	li := 0
	for _, h := range hist {
		item := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && li < len(chains) {
			item.Size = s.layers.Size(chains[li])
			li++
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		out = append(out, image.HistoryResponseItem{Created: img.Created.Unix(), Size: img.Size, Tags: []string{}})
	}
	// Reverse to newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	out[0].ID = img.ID.String()
	out[0].Tags = nonNil(img.RepoTags)
	s.markParents(out[1:], img.Parent)
	return out, nil
}

// markParents gives history entries that belong to local parent images
// (from commit) those images' IDs and tags, as Docker does.
func (s *Store) markParents(items []image.HistoryResponseItem, parent digest.Digest) {
	for parent != "" {
		s.mu.Lock()
		p := s.images[parent]
		var v *Image
		if p != nil {
			v = s.view(p)
		}
		s.mu.Unlock()
		if v == nil || len(v.Config.History) == 0 {
			return
		}
		// items are newest first, so the parent's newest entry is the one
		// len(parent history) from the bottom.
		idx := len(items) - len(v.Config.History)
		if idx < 0 || idx >= len(items) {
			return
		}
		items[idx].ID = v.ID.String()
		items[idx].Tags = nonNil(v.RepoTags)
		parent = v.Parent
	}
}
