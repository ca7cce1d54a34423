package image

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// UsedBy reports a container using an image, preferring a running one.
type UsedBy func(digest.Digest) (containerID string, running bool)

// Delete removes ref with Docker's rules: a name only untags unless it was
// the last name; an ID removes all names if they are in one repository;
// containers and child images block removal (stopped ones and several
// repositories only without force).
func (s *Store) Delete(ctx context.Context, ref string, force, noPrune bool, usedBy UsedBy) ([]image.DeleteResponse, error) {
	if usedBy == nil {
		usedBy = func(digest.Digest) (string, bool) { return "", false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	var out []image.DeleteResponse
	refs := s.refsOfLocked(id)
	if !isIDPrefix(id, ref) {
		name, _ := normalize(ref)
		if !force && len(refs) == 1 {
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
	} else if sameRepo(refs) {
		for _, r := range refs {
			delete(s.refs, r)
			out = append(out, image.DeleteResponse{Untagged: familiar(r)})
		}
		if err := s.saveRefsLocked(); err != nil {
			return nil, err
		}
	}
	return s.deleteImageLocked(ctx, id, force, !noPrune, out, usedBy)
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

// sameRepo reports whether all refs name one repository.
func sameRepo(refs []string) bool {
	repo := ""
	for _, r := range refs {
		name := repoOf(r)
		if repo != "" && repo != name {
			return false
		}
		repo = name
	}
	return true
}

// conflictLocked returns why id cannot be deleted, if it cannot.
func (s *Store) conflictLocked(id digest.Digest, force bool, usedBy UsedBy) error {
	short := shortID(id.String())
	for _, img := range s.images {
		if img.Parent == id {
			return errdefs.Conflictf("conflict: unable to delete %s (cannot be forced) - image has dependent child images", short)
		}
	}
	ctr, running := usedBy(id)
	if ctr != "" && running {
		return errdefs.Conflictf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", short, shortID(ctr))
	}
	if force {
		return nil
	}
	if len(s.refsOfLocked(id)) > 0 {
		return errdefs.Conflictf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", short)
	}
	if ctr != "" {
		return errdefs.Conflictf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", short, shortID(ctr))
	}
	return nil
}

// deleteImageLocked removes id (after its conflicts are checked), then,
// if prune, its untagged unused parents.
func (s *Store) deleteImageLocked(ctx context.Context, id digest.Digest, force, prune bool, out []image.DeleteResponse, usedBy UsedBy) ([]image.DeleteResponse, error) {
	if err := s.conflictLocked(id, force, usedBy); err != nil {
		return nil, err
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
	// Parents are pruned quietly: any conflict just stops the walk.
	for prune && parent != "" && s.images[parent] != nil {
		if s.conflictLocked(parent, false, usedBy) != nil {
			break
		}
		next := s.images[parent].Parent
		if err := s.removeRecordLocked(parent); err != nil {
			return out, err
		}
		out = append(out, image.DeleteResponse{Deleted: parent.String()})
		for _, c := range s.gcLocked(ctx) {
			out = append(out, image.DeleteResponse{Deleted: c.String()})
		}
		parent = next
	}
	return out, nil
}

func (s *Store) removeRecordLocked(id digest.Digest) error {
	if err := removeFile(s.recordDir(), id.Encoded()+".json"); err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	delete(s.images, id)
	return nil
}

// Prune deletes dangling (or, with dangling false, all unnamed-or-named)
// images no container uses.
func (s *Store) Prune(ctx context.Context, dangling bool, inUse func(digest.Digest) bool) (*image.PruneReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	before := s.layerBytesLocked()
	noUse := func(digest.Digest) (string, bool) { return "", false }
	for {
		progress := false
		for id := range s.images {
			if inUse(id) || (dangling && len(s.refsOfLocked(id)) > 0) {
				continue
			}
			if s.conflictLocked(id, true, noUse) != nil {
				continue // has children; they may go first
			}
			out, err := s.deleteImageLocked(ctx, id, true, false, nil, noUse)
			if err != nil {
				return rep, err
			}
			rep.ImagesDeleted = append(rep.ImagesDeleted, out...)
			progress = true
		}
		if !progress {
			break
		}
	}
	if after := s.layerBytesLocked(); after < before {
		rep.SpaceReclaimed = uint64(before - after)
	}
	return rep, nil
}

func (s *Store) layerBytesLocked() int64 {
	n, _ := s.LayersSize(context.Background())
	return n
}
