package layer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/moby/go-archive"
	"github.com/moby/moby/api/types/container"
	"syscall"
)

// Changes lists what container id changed relative to its image, read from
// the overlay upper dir: 0/0 char devices are deletions, entries that exist
// in a lower layer are modifications, the rest additions. Parents of
// changed paths are reported as modified, as `docker diff` does. The
// runtime's mountpoint stubs are not changes (initStubs).
func (s *Store) Changes(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	lowers, err := s.LowerDirs(id)
	if err != nil {
		return nil, err
	}
	upper := s.UpperDir(id)
	stubs := initStubs(upper, lowers)
	seen := map[string]bool{}
	var out []container.FilesystemChange
	add := func(p string, k container.ChangeType) {
		if !seen[p] {
			seen[p] = true
			out = append(out, container.FilesystemChange{Path: p, Kind: k})
		}
	}
	err = filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		if stubs[filepath.ToSlash(rel)] {
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		path := "/" + rel
		kind := container.ChangeAdd
		switch {
		case isWhiteout(fi):
			kind = container.ChangeDelete
		case inLowers(lowers, rel):
			kind = container.ChangeModify
		}
		if parent := filepath.Dir(path); parent != "/" {
			add(parent, container.ChangeModify)
		}
		add(path, kind)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", id, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func isWhiteout(fi os.FileInfo) bool {
	if fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// inLowers reports whether rel is visible in the image: present in some
// layer and not hidden by a whiteout or opaque dir in a layer above it.
func inLowers(lowers []string, rel string) bool {
	for i := len(lowers) - 1; i >= 0; i-- {
		fi, err := os.Lstat(filepath.Join(lowers[i], rel))
		if err == nil {
			return !isWhiteout(fi)
		}
	}
	return false
}

// DiffTar streams container id's changes as a layer tar with AUFS-style
// .wh. whiteouts, which is what Docker puts in committed layers; the
// runtime's mountpoint stubs are left out (initStubs).
func (s *Store) DiffTar(ctx context.Context, id string) (io.ReadCloser, error) {
	lowers, err := s.LowerDirs(id)
	if err != nil {
		return nil, err
	}
	var exclude []string
	for p := range initStubs(s.UpperDir(id), lowers) {
		exclude = append(exclude, p)
	}
	sort.Strings(exclude)
	rc, err := archive.TarWithOptions(s.UpperDir(id), &archive.TarOptions{
		WhiteoutFormat:  archive.OverlayWhiteoutFormat,
		ExcludePatterns: exclude,
	})
	if err != nil {
		return nil, fmt.Errorf("diff of %s: %w", id, err)
	}
	return rc, nil
}

// Export writes container id's whole filesystem as one tar, mounting the
// overlay for the duration.
func (s *Store) Export(ctx context.Context, id string, w io.Writer) error {
	merged, err := s.Mount(ctx, id)
	if err != nil {
		return err
	}
	defer s.Unmount(context.WithoutCancel(ctx), id)
	rc, err := archive.TarWithOptions(merged, &archive.TarOptions{})
	if err != nil {
		return fmt.Errorf("export %s: %w", id, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("export %s: %w", id, err)
	}
	return nil
}

// RWSize is the size of the files container id wrote.
func (s *Store) RWSize(ctx context.Context, id string) (int64, error) {
	if _, err := s.Lowers(id); err != nil {
		return 0, err
	}
	return DirSize(s.UpperDir(id))
}
