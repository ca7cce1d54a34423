package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/imageref"
	"github.com/moby/moby/client/pkg/versions"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The layout `docker save` wrote before Docker 1.10: a directory per layer
// named by its v1 ID, holding the v1 image JSON (json), the layer
// (layer.tar) and VERSION; a repositories file mapping name → tag → v1 ID;
// no manifest.json. dockerd 28 still loads it (image/tarexport's
// legacyLoad, with its graph-driver image store): every layer becomes an
// image of its own on its parent's, and the repositories file tags them.

// legacyV1 is what of a v1 image JSON the load reads.
type legacyV1 struct {
	Parent          string     `json:"parent"`
	OS              string     `json:"os"`
	Created         *time.Time `json:"created"`
	Author          string     `json:"author"`
	Comment         string     `json:"comment"`
	DockerVersion   string     `json:"docker_version"`
	ContainerConfig struct {
		Cmd []string
	} `json:"container_config"`
}

// legacyImage is one directory of the archive once read.
type legacyImage struct {
	dir string
	raw []byte
	v1  legacyV1
}

// loadLegacy loads an archive with neither manifest.json nor index.json
// as dockerd does: each directory's json and layer.tar (parents first),
// then the tags of the repositories file. Its errors for what is no image
// at all (an empty stream, any other tar) are dockerd's: the first missing
// json, then the missing repositories file. Unlike dockerd, nothing is
// kept when a later part fails (dockerd keeps the images made before a
// missing repositories file or a tag naming no image).
func (s *Store) loadLegacy(ctx context.Context, st *streamed, report func(string)) error {
	dirs := make([]string, 0, len(st.dirs))
	for d := range st.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	imgs := map[string]*legacyImage{}
	for _, d := range dirs {
		li, err := st.legacyImage(d)
		if err != nil {
			return err
		}
		imgs[d] = li
	}
	repos, err := st.repositories()
	if err != nil {
		return err
	}
	// The tags, checked before anything is made.
	tags := map[string][]string{} // v1 ID → name:tag
	for _, name := range sortedKeys(repos) {
		for _, tag := range sortedKeys(repos[name]) {
			id := repos[name][tag]
			if imgs[id] == nil {
				return fmt.Errorf("invalid target ID: %v", id)
			}
			ref := name + ":" + tag
			if _, err := imageref.NormalizeTag(ref); err != nil {
				return err
			}
			tags[id] = append(tags[id], ref)
		}
	}
	l := &legacyLoader{s: s, st: st, imgs: imgs, done: map[string]*Image{}, report: report, tags: tags}
	for _, d := range dirs {
		if _, err := l.load(ctx, d, 0); err != nil {
			return err
		}
	}
	return nil
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// legacyImage reads directory d's json (the error of a missing one is
// dockerd's failed open in its unpacked copy).
func (st *streamed) legacyImage(d string) (*legacyImage, error) {
	f, err := st.open(path.Join(d, "json"))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	li := &legacyImage{dir: d, raw: raw}
	if err := json.Unmarshal(raw, &li.v1); err != nil {
		return nil, errdefs.Invalid(err)
	}
	if li.v1.OS == "" {
		li.v1.OS = "linux"
	}
	if li.v1.OS != "linux" {
		return nil, errdefs.Invalidf("cannot load %s image on linux", li.v1.OS)
	}
	return li, nil
}

// repositories reads the repositories file: name → tag → v1 ID.
func (st *streamed) repositories() (map[string]map[string]string, error) {
	f, err := st.open("repositories")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	repos := map[string]map[string]string{}
	if err := json.NewDecoder(f).Decode(&repos); err != nil {
		return nil, errdefs.Invalid(err)
	}
	return repos, nil
}

type legacyLoader struct {
	s      *Store
	st     *streamed
	imgs   map[string]*legacyImage
	done   map[string]*Image
	tags   map[string][]string
	report func(string)
}

// load makes the image of directory id, its parents first.
func (l *legacyLoader) load(ctx context.Context, id string, depth int) (*Image, error) {
	if img := l.done[id]; img != nil {
		return img, nil
	}
	if depth > 1024 {
		return nil, errdefs.Invalidf("invalid archive: the parents of %s make a loop", id)
	}
	li := l.imgs[id]
	if li == nil {
		// A parent the archive lacks: dockerd's open of its json fails.
		return nil, l.st.missing(path.Join(id, "json"))
	}
	var parent *Image
	var diffIDs []digest.Digest
	var history []ocispec.History
	if li.v1.Parent != "" {
		p, err := l.load(ctx, li.v1.Parent, depth+1)
		if err != nil {
			return nil, err
		}
		parent = p
		diffIDs = append(diffIDs, p.Layers...)
		history = append(history, p.Config.History...)
	}
	layerName := l.st.resolve(path.Join(id, "layer.tar"))
	a, ok := l.st.layers[layerName]
	if !ok {
		// Not taken for a layer as it streamed by (too short to tell):
		// unpack it now, for its diff ID.
		f, err := l.st.open(layerName)
		if err != nil {
			return nil, err
		}
		err = l.st.unpackLayer(ctx, layerName, f, true) // small: hashed apart, whatever it is
		f.Close()
		if err != nil {
			return nil, err
		}
		a = l.st.layers[layerName]
	}
	if a.err != nil {
		return nil, a.err
	}
	diffIDs = append(diffIDs, a.diffID)
	history = append(history, ocispec.History{
		Created: li.v1.Created, Author: li.v1.Author, Comment: li.v1.Comment,
		CreatedBy: strings.Join(li.v1.ContainerConfig.Cmd, " "),
	})
	raw, err := legacyConfig(li, diffIDs, history)
	if err != nil {
		return nil, err
	}
	// The synthesized config goes through the manifest path as one
	// more small file of the archive, under a name no entry can have.
	cfgName := "\x00legacy/" + id
	l.st.small[cfgName] = raw
	layers := make([]string, 0, len(diffIDs))
	for cur := li; ; {
		layers = append([]string{path.Join(cur.dir, "layer.tar")}, layers...)
		if cur.v1.Parent == "" {
			break
		}
		cur = l.imgs[cur.v1.Parent]
	}
	var parentID digest.Digest
	if parent != nil {
		parentID = parent.ID
	}
	img, err := l.s.loadOne(ctx, l.st, manifestItem{Config: cfgName, Layers: layers, RepoTags: l.tags[id]}, parentID, false, l.report)
	if err != nil {
		return nil, err
	}
	l.done[id] = img
	return img, nil
}

// legacyConfig is dockerd's MakeConfigFromV1Config: the v1 JSON without
// its v1 IDs and size, with the rootfs and history added, its keys in
// order. JSON of Docker before 1.8.3 (or without docker_version) went
// through dockerd's V1Image type, which kept only its fields; here only
// their keys are kept, so such an image's ID may differ from dockerd's.
func legacyConfig(li *legacyImage, diffIDs []digest.Digest, history []ocispec.History) ([]byte, error) {
	var c map[string]*json.RawMessage
	if err := json.Unmarshal(li.raw, &c); err != nil {
		return nil, errdefs.Invalid(err)
	}
	if versions.LessThan(li.v1.DockerVersion, "1.8.3") {
		known := map[string]bool{"id": true, "parent": true, "comment": true, "created": true, "container": true,
			"container_config": true, "docker_version": true, "author": true, "config": true,
			"architecture": true, "variant": true, "os": true, "Size": true}
		for k := range c {
			if !known[k] {
				delete(c, k)
			}
		}
	}
	for _, k := range []string{"id", "parent", "Size", "parent_id", "layer_id", "throwaway"} {
		delete(c, k)
	}
	rootfs, err := json.Marshal(struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids,omitempty"`
	}{"layers", diffIDs})
	if err != nil {
		return nil, err
	}
	hist, err := json.Marshal(history)
	if err != nil {
		return nil, err
	}
	c["rootfs"], c["history"] = (*json.RawMessage)(&rootfs), (*json.RawMessage)(&hist)
	return json.Marshal(c)
}
