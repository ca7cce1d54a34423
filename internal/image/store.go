// Package image is Berth's image store: image configs, names and the
// layers and container root filesystems built from them.
//
// On disk, under the data root:
//
//	content/blobs/sha256/<hex>      image configs and layer tars; layers are
//	                                kept uncompressed and named by diff ID, so
//	                                save/load round-trips them byte for byte
//	overlay/<chainID hex>/diff      unpacked image layer (see package layer)
//	overlay/<ctrID>/{diff,work,merged,lower}  container rw layer
//	image/images/<id hex>.json      image record: parent, last tag time
//	image/repositories.json         references: normalized name:tag → image id
//
// An image's ID is the digest of its config blob. Records are written
// atomically; an in-memory index is loaded by New and guarded by a mutex.
package image

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/content"
	"github.com/berth-project/berth/internal/image/layer"
	"github.com/berth-project/berth/internal/imageref"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
)

// Image is one image as callers see it.
type Image struct {
	ID          digest.Digest
	Config      dockerspec.DockerOCIImage
	RepoTags    []string // familiar form, e.g. "busybox:latest"
	RepoDigests []string
	Size        int64
	Created     time.Time
	Layers      []digest.Digest // diff IDs, bottom first
	Parent      digest.Digest

	comment     string
	container   string
	lastTagTime time.Time
}

// configFile is the image config as Docker writes it: the OCI config plus
// the legacy top-level fields Docker still fills in.
type configFile struct {
	dockerspec.DockerOCIImage
	Comment       string `json:"comment,omitempty"`
	Container     string `json:"container,omitempty"`
	DockerVersion string `json:"docker_version,omitempty"`
}

// record is image/images/<hex>.json: what the config does not say.
type record struct {
	Parent      digest.Digest `json:"parent,omitempty"`
	LastTagTime time.Time     `json:"lastTagTime,omitzero"`
}

// Store is the image store. It is safe for concurrent use.
type Store struct {
	root    string
	content *content.Store
	layers  *layer.Store

	mu     sync.Mutex
	images map[digest.Digest]*Image
	refs   map[string]digest.Digest // normalized "name:tag" → id
	// pending holds blobs and layers an unfinished import/load/commit has
	// written but not yet indexed, so a concurrent GC leaves them alone.
	pending map[digest.Digest]int
	// partial: layers of unfinished pulls kept for resuming (partial.go).
	partial map[digest.Digest]time.Time
}

// New opens (creating if needed) the store under root and loads the index.
func New(ctx context.Context, root string) (*Store, error) {
	cs, err := content.New(root)
	if err != nil {
		return nil, err
	}
	ls, err := layer.New(root)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, content: cs, layers: ls,
		images: map[digest.Digest]*Image{}, refs: map[string]digest.Digest{},
		pending: map[digest.Digest]int{}}
	if err := os.MkdirAll(s.recordDir(), 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	removeLeftovers(root)
	if err := s.loadIndex(); err != nil {
		return nil, err
	}
	s.loadPartial()
	// Collect what an interrupted operation (a crash mid-load, mid-delete)
	// left unreferenced; the layers kept for resuming pulls stay.
	s.gc(ctx)
	return s, nil
}

func (s *Store) recordDir() string { return filepath.Join(s.root, "image", "images") }
func (s *Store) refsPath() string  { return filepath.Join(s.root, "image", "repositories.json") }

func (s *Store) loadIndex() error {
	ents, err := os.ReadDir(s.recordDir())
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(hex, ".") {
			continue
		}
		id := digest.NewDigestFromEncoded(digest.SHA256, hex)
		img, err := s.readImage(id)
		if err != nil {
			// A broken record must not keep the daemon from starting.
			continue
		}
		s.images[id] = img
	}
	b, err := os.ReadFile(s.refsPath())
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("image store: %w", err)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &s.refs); err != nil {
			return fmt.Errorf("image store: %s: %w", s.refsPath(), err)
		}
	}
	for r, id := range s.refs {
		if s.images[id] == nil {
			delete(s.refs, r)
		}
	}
	return nil
}

// readImage builds an Image from its config blob and record.
func (s *Store) readImage(id digest.Digest) (*Image, error) {
	raw, err := s.content.ReadAll(id)
	if err != nil {
		return nil, err
	}
	img, err := parseConfig(id, raw)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.recordDir(), id.Encoded()+".json"))
	if err != nil {
		return nil, fmt.Errorf("image record %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("image record %s: %w", id, err)
	}
	img.Parent, img.lastTagTime = rec.Parent, rec.LastTagTime
	for _, c := range layer.ChainIDs(img.Layers) {
		img.Size += s.layers.Size(c)
	}
	return img, nil
}

func parseConfig(id digest.Digest, raw []byte) (*Image, error) {
	var cf configFile
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, errdefs.Invalidf("invalid image config %s: %v", id, err)
	}
	if cf.RootFS.Type != "" && cf.RootFS.Type != "layers" {
		return nil, errdefs.Invalidf("invalid image config %s: rootfs type %q", id, cf.RootFS.Type)
	}
	img := &Image{ID: id, Config: cf.DockerOCIImage, Layers: cf.RootFS.DiffIDs,
		comment: cf.Comment, container: cf.Container}
	for _, l := range img.Layers {
		if err := l.Validate(); err != nil {
			return nil, errdefs.Invalidf("invalid image config %s: diff id %q: %v", id, l, err)
		}
	}
	if cf.Created != nil {
		img.Created = *cf.Created
	}
	return img, nil
}

// writeRecord persists rec for id.
func (s *Store) writeRecord(id digest.Digest, rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.recordDir(), id.Encoded()+".json"), b, 0o600)
}

// saveRefsLocked persists the reference map; s.mu is held.
func (s *Store) saveRefsLocked() error {
	b, err := json.Marshal(s.refs)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.refsPath(), b, 0o600)
}

// view copies img with its current names filled in; s.mu is held.
func (s *Store) view(img *Image) *Image {
	out := *img
	out.RepoTags = []string{}
	out.RepoDigests = []string{}
	for r, id := range s.refs {
		switch {
		case id != img.ID:
		case isDigestRef(r):
			out.RepoDigests = append(out.RepoDigests, familiar(r))
		default:
			out.RepoTags = append(out.RepoTags, familiar(r))
		}
	}
	sort.Strings(out.RepoTags)
	sort.Strings(out.RepoDigests)
	out.Layers = append([]digest.Digest(nil), img.Layers...)
	return &out
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Image, 0, len(s.images))
	for _, img := range s.images {
		out = append(out, s.view(img))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Resolve finds an image by name[:tag], full ID (with or without
// "sha256:") or unique ID prefix, in that order, as Docker does.
func (s *Store) Resolve(ctx context.Context, ref string) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	return s.view(s.images[id]), nil
}

func (s *Store) resolveLocked(ref string) (digest.Digest, error) {
	notFound := errdefs.NotFoundf("No such image: %s", ref)
	if ref == "" {
		return "", notFound
	}
	if d, err := digest.Parse(ref); err == nil {
		if s.images[d] != nil {
			return d, nil
		}
		return "", notFound
	}
	if name, err := normalize(ref); err == nil {
		if id, ok := s.refs[name]; ok {
			return id, nil
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if !isHex(prefix) {
		return "", notFound
	}
	var found digest.Digest
	for id := range s.images {
		if strings.HasPrefix(id.Encoded(), prefix) {
			if found != "" {
				return "", notFound // ambiguous prefix: Docker reports it as missing
			}
			found = id
		}
	}
	if found == "" {
		return "", notFound
	}
	return found, nil
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Tag points ref at image id, moving it if it named another image.
func (s *Store) Tag(ctx context.Context, id digest.Digest, ref string) error {
	name, err := imageref.NormalizeTag(ref)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.images[id]
	if img == nil {
		return errdefs.NotFoundf("No such image: %s", id)
	}
	s.refs[name] = id
	if err := s.saveRefsLocked(); err != nil {
		return err
	}
	img.lastTagTime = time.Now().UTC()
	return s.writeRecord(id, record{Parent: img.Parent, LastTagTime: img.lastTagTime})
}

// hold marks ds as in use by an operation in progress.
func (s *Store) hold(ds ...digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.pending[d]++
	}
}

// release undoes hold.
func (s *Store) release(ds ...digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if s.pending[d]--; s.pending[d] <= 0 {
			delete(s.pending, d)
		}
	}
}

func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// removeLeftovers deletes temp files and dirs a crash left mid-write;
// nothing is in flight while New runs.
func removeLeftovers(root string) {
	for _, pat := range []string{"content/blobs/sha256/.ingest-*", "overlay/.unpack-*", "tmp/load-*", "tmp/docker-import-*", "image/images/.*.tmp*", "image/.*.tmp*"} {
		ms, _ := filepath.Glob(filepath.Join(root, pat))
		for _, m := range ms {
			os.RemoveAll(m)
		}
	}
}
