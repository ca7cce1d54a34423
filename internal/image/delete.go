package image

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// UsedBy reports a container using an image, preferring a running one.
type UsedBy func(digest.Digest) (containerID string, running bool)

// conflict kinds, as dockerd classifies them: hard ones cannot be forced.
type conflictMask int

const (
	conflictChild conflictMask = 1 << iota
	conflictRunning
	conflictReference
	conflictStopped

	conflictHard = conflictChild | conflictRunning
	conflictSoft = conflictReference | conflictStopped
)

// deleteConflict is a reason an image cannot be deleted.
type deleteConflict struct {
	id   digest.Digest
	hard bool
	used bool // by a container
	msg  string
}

func (c *deleteConflict) err() error {
	force := "must be forced"
	if c.hard {
		force = "cannot be forced"
	}
	return errdefs.Conflictf("conflict: unable to delete %s (%s) - %s", shortID(c.id.String()), force, c.msg)
}

// Delete removes ref with Docker's rules: a name only untags unless it was
// the last name; an ID removes the names only when they are one tag (plus
// digests of its repository); containers and child images block removal
// (stopped containers and other names only without force). Untagging the
// last name of an image that cannot go (a child, a container) is not an
// error: the image just stays, unnamed.
func (s *Store) Delete(ctx context.Context, ref string, force, noPrune bool, usedBy UsedBy) ([]image.DeleteResponse, error) {
	if usedBy == nil {
		usedBy = func(digest.Digest) (string, bool) { return "", false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(ctx, ref, force, !noPrune, usedBy)
}

func (s *Store) deleteLocked(ctx context.Context, ref string, force, prune bool, usedBy UsedBy) ([]image.DeleteResponse, error) {
	id, err := s.resolveForDelete(ref)
	if err != nil {
		return nil, err
	}
	var out []image.DeleteResponse
	refs := s.refsOfLocked(id)
	quiet := false
	if !isIDPrefix(id, ref) {
		name, _ := normalize(ref)
		if !force && isSingleReference(refs) {
			if ctr, _ := usedBy(id); ctr != "" {
				return nil, errdefs.Conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					ref, shortID(ctr), shortID(id.String()))
			}
		}
		delete(s.refs, name)
		out = append(out, image.DeleteResponse{Untagged: familiar(name)})
		// Removing a repository's last tag also drops the digests it was
		// pulled by, as Docker does; other repositories' names stay.
		out = append(out, s.untagDigestsLocked(id, name)...)
		if err := s.saveRefsLocked(); err != nil {
			return nil, err
		}
		if len(s.refsOfLocked(id)) > 0 {
			return out, nil
		}
		quiet = true
	} else if isSingleReference(refs) {
		mask := conflictHard
		if !force {
			mask |= conflictSoft &^ conflictReference
		}
		if c := s.conflictLocked(id, mask, usedBy); c != nil {
			return nil, c.err()
		}
		for _, r := range refs {
			delete(s.refs, r)
			out = append(out, image.DeleteResponse{Untagged: familiar(r)})
		}
		if err := s.saveRefsLocked(); err != nil {
			return nil, err
		}
	}
	return s.deleteImageLocked(ctx, id, force, prune, quiet, out, usedBy)
}

// untagDigestsLocked removes id's digest references in removed's repository
// when removed was a tag and no other tag of that repository names id.
func (s *Store) untagDigestsLocked(id digest.Digest, removed string) []image.DeleteResponse {
	if isDigestRef(removed) {
		return nil
	}
	repo := repoOf(removed)
	var digests []string
	for _, r := range s.refsOfLocked(id) {
		if repoOf(r) != repo {
			continue
		}
		if !isDigestRef(r) {
			return nil
		}
		digests = append(digests, r)
	}
	var out []image.DeleteResponse
	for _, r := range digests {
		delete(s.refs, r)
		out = append(out, image.DeleteResponse{Untagged: familiar(r)})
	}
	return out
}

func isIDPrefix(id digest.Digest, ref string) bool {
	return strings.HasPrefix(id.String(), ref) || strings.HasPrefix(id.Encoded(), ref)
}

func (s *Store) refsOfLocked(id digest.Digest) []string {
	var out []string
	for r, v := range s.refs {
		if v == id {
			out = append(out, r)
		}
	}
	return out
}

// isSingleReference reports whether refs are one tag plus, at most, digest
// references of that tag's repository (or digests of one repository only):
// then deleting by ID may drop them all without force, as with dockerd.
func isSingleReference(refs []string) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	tag := ""
	digestRepos := map[string]bool{}
	for _, r := range refs {
		switch {
		case isDigestRef(r):
			digestRepos[repoOf(r)] = true
		case tag == "":
			tag = r
		default:
			return false
		}
	}
	if tag == "" {
		tag = refs[0]
	}
	return len(digestRepos) == 1 && digestRepos[repoOf(tag)]
}

// conflictLocked returns why id cannot be deleted, checking the kinds in
// mask in dockerd's order, or nil.
func (s *Store) conflictLocked(id digest.Digest, mask conflictMask, usedBy UsedBy) *deleteConflict {
	if mask&conflictChild != 0 && s.hasChildrenLocked(id) {
		return &deleteConflict{id: id, hard: true, msg: "image has dependent child images"}
	}
	ctr, running := usedBy(id)
	if mask&conflictRunning != 0 && ctr != "" && running {
		return &deleteConflict{id: id, hard: true, used: true, msg: "image is being used by running container " + shortID(ctr)}
	}
	if mask&conflictReference != 0 && len(s.refsOfLocked(id)) > 0 {
		return &deleteConflict{id: id, msg: "image is referenced in multiple repositories"}
	}
	if mask&conflictStopped != 0 && ctr != "" && !running {
		return &deleteConflict{id: id, used: true, msg: "image is being used by stopped container " + shortID(ctr)}
	}
	return nil
}

func (s *Store) hasChildrenLocked(id digest.Digest) bool {
	for _, img := range s.images {
		if img.Parent == id {
			return true
		}
	}
	return false
}

// danglingLocked reports whether id has neither names nor children.
func (s *Store) danglingLocked(id digest.Digest) bool {
	return len(s.refsOfLocked(id)) == 0 && !s.hasChildrenLocked(id)
}

// deleteImageLocked removes id after checking its conflicts, then, if
// prune, its untagged unused parents. quiet (the last name was just
// removed) turns a conflict into keeping the image without an error.
func (s *Store) deleteImageLocked(ctx context.Context, id digest.Digest, force, prune, quiet bool, out []image.DeleteResponse, usedBy UsedBy) ([]image.DeleteResponse, error) {
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if c := s.conflictLocked(id, mask, usedBy); c != nil {
		if quiet && (!s.danglingLocked(id) || c.used) {
			return out, nil
		}
		return nil, c.err()
	}
	parent := s.images[id].Parent
	for _, r := range s.refsOfLocked(id) {
		delete(s.refs, r)
		out = append(out, image.DeleteResponse{Untagged: familiar(r)})
	}
	if err := s.saveRefsLocked(); err != nil {
		return nil, err
	}
	if err := s.removeRecordLocked(id); err != nil {
		return nil, err
	}
	out = append(out, image.DeleteResponse{Deleted: id.String()})
	for _, c := range s.gcLocked(ctx) {
		out = append(out, image.DeleteResponse{Deleted: c.String()})
	}
	if !prune || parent == "" || s.images[parent] == nil {
		return out, nil
	}
	// Parents are pruned without force and quietly: a conflict just stops
	// the walk.
	return s.deleteImageLocked(ctx, parent, false, true, true, out, usedBy)
}

func (s *Store) removeRecordLocked(id digest.Digest) error {
	if err := removeFile(s.recordDir(), id.Encoded()+".json"); err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	delete(s.images, id)
	return nil
}

// PruneOptions selects what Prune deletes.
type PruneOptions struct {
	// All prunes every unused image, not only dangling ones.
	All bool
	// Until, if set, keeps images created after it.
	Until time.Time
	// Labels, if set, must accept an image's labels for it to go.
	Labels func(map[string]string) bool
}

// Prune deletes unused images as dockerd does: dangling heads (or, with
// All, every image) that match the filters, each through an ordinary
// delete without force, so images containers use stay; untagged parents
// go with their children. SpaceReclaimed is what the layer directories
// shrank by.
func (s *Store) Prune(ctx context.Context, opts PruneOptions, usedBy UsedBy) (*image.PruneReport, error) {
	if usedBy == nil {
		usedBy = func(digest.Digest) (string, bool) { return "", false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	before := s.layerBytesLocked()
	if len(s.partial) > 0 {
		// A prune also gives up the layers kept for resuming pulls.
		s.dropPartialLocked()
		s.gcLocked(ctx)
	}
	for _, id := range s.pruneCandidatesLocked(opts) {
		if ctx.Err() != nil {
			break // still report what went
		}
		refs := s.refsOfLocked(id)
		if len(refs) == 0 {
			refs = []string{id.Encoded()}
		} else if !opts.All && hasTag(refs) {
			continue
		}
		sort.Strings(refs)
		for _, r := range refs {
			// Conflicts (containers) and images a previous delete took
			// with it are skipped, as dockerd does.
			out, err := s.deleteLocked(ctx, r, false, true, usedBy)
			if err == nil {
				rep.ImagesDeleted = append(rep.ImagesDeleted, out...)
			}
		}
	}
	if after := s.layerBytesLocked(); after < before {
		rep.SpaceReclaimed = uint64(before - after)
	}
	return rep, nil
}

// pruneCandidatesLocked lists the images Prune tries, oldest first:
// without All only heads (no children); never intermediate images, which
// go with their children.
func (s *Store) pruneCandidatesLocked(opts PruneOptions) []digest.Digest {
	var out []*Image
	for id, img := range s.images {
		children := s.hasChildrenLocked(id)
		switch {
		case children && (!opts.All || len(s.refsOfLocked(id)) == 0):
		case !opts.Until.IsZero() && img.Created.After(opts.Until):
		case opts.Labels != nil && !opts.Labels(img.Config.Config.Labels):
		default:
			out = append(out, img)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	ids := make([]digest.Digest, len(out))
	for i, img := range out {
		ids[i] = img.ID
	}
	return ids
}

func hasTag(refs []string) bool {
	for _, r := range refs {
		if !isDigestRef(r) {
			return true
		}
	}
	return false
}

func (s *Store) layerBytesLocked() int64 {
	n, _ := s.LayersSize(context.Background())
	return n
}
