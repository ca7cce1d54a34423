package image

import (
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
)

// normalize turns a user reference into the key used in the refs map,
// e.g. "busybox" → "docker.io/library/busybox:latest".
func normalize(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	if _, ok := named.(reference.Digested); ok {
		return named.String(), nil
	}
	return reference.TagNameOnly(named).String(), nil
}

// familiar shortens a normalized reference for display
// ("docker.io/library/busybox:latest" → "busybox:latest").
func familiar(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	short := reference.FamiliarString(named)
	// The familiar form drops "docker.io/", so a Hub path whose first part
	// looks like a host ("docker.io/my.org/app") would come back as another
	// registry's name ("my.org/app"), and a save's RepoTags would load under
	// it. Such names keep their domain.
	if back, err := reference.ParseNormalizedNamed(short); err != nil || back.String() != named.String() {
		return named.String()
	}
	return short
}

// shortID is Docker's 12-character form of an ID.
func shortID(id string) string {
	if i := len("sha256:"); len(id) > i && id[:i] == "sha256:" {
		id = id[i:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// isDigestRef reports whether a normalized reference is name@digest.
func isDigestRef(ref string) bool { return strings.Contains(ref, "@") }

// repoOf strips the tag or digest from a normalized reference.
func repoOf(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// NoSuchImage is dockerd's error for a reference that names no image: a
// name is shown in familiar form with its tag (":latest" added), as in
// "No such image: busybox:latest"; anything else as given.
func NoSuchImage(ref string) error {
	if named, err := reference.ParseNormalizedNamed(ref); err == nil && !strings.HasPrefix(ref, "sha256:") {
		ref = reference.FamiliarString(reference.TagNameOnly(named))
	}
	return errdefs.NotFoundf("No such image: %s", ref)
}

// resolveForDelete is resolveLocked with dockerd's wording for a miss.
func (s *Store) resolveForDelete(ref string) (digest.Digest, error) {
	id, err := s.resolveLocked(ref)
	if errdefs.IsNotFound(err) {
		return "", NoSuchImage(ref)
	}
	return id, err
}
