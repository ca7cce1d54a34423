package layer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func (s *Store) rwDir(id string) string { return filepath.Join(s.dir, id) }

// CreateRW makes the read-write layer of container id on top of the
// image layers chains (bottom first, all already unpacked).
func (s *Store) CreateRW(ctx context.Context, id string, chains []digest.Digest) error {
	if id == "" || strings.ContainsAny(id, "/.") {
		return errdefs.Invalidf("invalid container id %q", id)
	}
	for _, c := range chains {
		if !s.Has(c) {
			return errdefs.NotFoundf("layer %s not found", c)
		}
	}
	dir := s.rwDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if os.IsExist(err) {
			return errdefs.Conflictf("read-write layer for %s already exists", id)
		}
		return fmt.Errorf("create rw layer: %w", err)
	}
	lines := make([]string, len(chains))
	for i, c := range chains {
		lines[i] = c.String()
	}
	err := errors.Join(
		os.Mkdir(filepath.Join(dir, "diff"), 0o755),
		os.Mkdir(filepath.Join(dir, "work"), 0o700),
		os.Mkdir(filepath.Join(dir, "merged"), 0o755),
		os.Mkdir(filepath.Join(dir, "empty"), 0o755),
		os.WriteFile(filepath.Join(dir, "lower"), []byte(strings.Join(lines, "\n")), 0o600),
	)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("create rw layer: %w", err)
	}
	return nil
}

// Lowers returns the chain IDs under container id, bottom first.
func (s *Store) Lowers(id string) ([]digest.Digest, error) {
	b, err := os.ReadFile(filepath.Join(s.rwDir(id), "lower"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errdefs.NotFoundf("no read-write layer for container %s", id)
		}
		return nil, fmt.Errorf("read rw layer: %w", err)
	}
	var out []digest.Digest
	for _, l := range strings.Fields(string(b)) {
		out = append(out, digest.Digest(l))
	}
	return out, nil
}

// RWLayers lists the containers that have a read-write layer, with the
// layers each one sits on; it tells the image GC what is still in use.
func (s *Store) RWLayers() (map[string][]digest.Digest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	out := map[string][]digest.Digest{}
	for _, e := range ents {
		if l, err := s.Lowers(e.Name()); err == nil {
			out[e.Name()] = l
		}
	}
	return out, nil
}

// UpperDir is container id's read-write directory.
func (s *Store) UpperDir(id string) string { return filepath.Join(s.rwDir(id), "diff") }

// LowerDirs are the image layer dirs of container id, bottom first.
func (s *Store) LowerDirs(id string) ([]string, error) {
	chains, err := s.Lowers(id)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(chains))
	for i, c := range chains {
		dirs[i] = s.DiffDir(c)
	}
	return dirs, nil
}

// Mount mounts container id's overlay (once; later calls add a reference)
// and returns the merged path.
func (s *Store) Mount(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	merged := filepath.Join(s.rwDir(id), "merged")
	if s.mounts[id] > 0 {
		s.mounts[id]++
		return merged, nil
	}
	lowers, err := s.LowerDirs(id)
	if err != nil {
		return "", err
	}
	// A mount left by an earlier daemon run is adopted rather than stacked.
	if isMountPoint(merged) {
		s.mounts[id] = 1
		return merged, nil
	}
	// overlay wants the top-most lower dir first.
	var top []string
	for i := len(lowers) - 1; i >= 0; i-- {
		top = append(top, lowers[i])
	}
	if len(top) == 0 {
		top = []string{filepath.Join(s.rwDir(id), "empty")}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(top, ":"),
		s.UpperDir(id), filepath.Join(s.rwDir(id), "work"))
	if len(opts) < unix.Getpagesize() {
		err = unix.Mount("overlay", merged, "overlay", 0, opts)
	} else {
		err = s.mountShort(id)
	}
	if err != nil {
		return "", fmt.Errorf("mount overlay for %s: %w", id, err)
	}
	s.mounts[id] = 1
	return merged, nil
}

// mountShort mounts a deep stack using the layers' short names.
func (s *Store) mountShort(id string) error {
	chains, err := s.Lowers(id)
	if err != nil {
		return err
	}
	var top []string
	for i := len(chains) - 1; i >= 0; i-- {
		short, err := s.ensureLink(chains[i])
		if err != nil {
			return err
		}
		top = append(top, "l/"+short)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/diff,workdir=%s/work", strings.Join(top, ":"), id, id)
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("too many layers (%d) for the mount options", len(chains))
	}
	return mountRelative(s.dir, filepath.Join(id, "merged"), opts)
}

// Unmount drops one reference and unmounts on the last one.
func (s *Store) Unmount(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mounts[id] > 1 {
		s.mounts[id]--
		return nil
	}
	delete(s.mounts, id)
	return unmount(filepath.Join(s.rwDir(id), "merged"))
}

func unmount(merged string) error {
	if !isMountPoint(merged) {
		return nil
	}
	err := unix.Unmount(merged, 0)
	if errors.Is(err, unix.EBUSY) {
		// Something still has it open (an exec'd shell's cwd, say); detach
		// so the rw layer can be removed anyway.
		err = unix.Unmount(merged, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", merged, err)
	}
	return nil
}

// IsMounted reports whether container id's overlay is mounted.
func (s *Store) IsMounted(id string) bool {
	return isMountPoint(filepath.Join(s.rwDir(id), "merged"))
}

// RemoveRW unmounts (whatever the refcount) and deletes container id's layer.
func (s *Store) RemoveRW(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mounts, id)
	dir := s.rwDir(id)
	if _, err := os.Stat(filepath.Join(dir, "lower")); err != nil {
		// No lower file: either nothing is there, an image layer has
		// that name (never removed here), or a crash cut CreateRW short
		// and the half-made directory goes.
		if _, serr := os.Stat(filepath.Join(dir, "size")); serr == nil || !dirExists(dir) {
			return nil
		}
	}
	if err := unmount(filepath.Join(dir, "merged")); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove rw layer %s: %w", id, err)
	}
	return nil
}

// isMountPoint compares the device of p with its parent's.
func isMountPoint(p string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

func dirExists(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// HasRW reports whether container id has a complete read-write layer.
func (s *Store) HasRW(id string) bool {
	_, err := os.Stat(filepath.Join(s.rwDir(id), "lower"))
	return err == nil
}

// RWCandidates lists the store's directories that are not image layers
// (no size file), not the short-name links, not temp dirs and not build
// layers: the containers' rw layers, complete or cut short by a crash.
func (s *Store) RWCandidates() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || n == "l" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "build-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, n, "size")); err == nil {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}
