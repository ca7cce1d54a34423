package buildcontext

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// FromDir tars the directory dir with its .dockerignore applied. The
// Dockerfile (o.Dockerfile, relative to the working directory) and the
// .dockerignore are always sent, as docker does: the daemon needs them and
// drops them itself. A Dockerfile outside dir, or one read from stdin with
// -f -, is added to the tar under a random name.
func FromDir(dir string, o Options) (c *Context, err error) {
	root, err := resolveDir(dir)
	if err != nil {
		return nil, err
	}
	dockerfile := o.Dockerfile
	if dockerfile != "" && dockerfile != "-" {
		if dockerfile, err = filepath.Abs(dockerfile); err != nil {
			return nil, fmt.Errorf("unable to get absolute path to Dockerfile: %w", err)
		}
	}
	rel, err := dockerfileRelPath(root, dockerfile)
	if err != nil {
		return nil, err
	}
	var extra io.Reader // a Dockerfile that is not in the tree
	switch {
	case rel == "-":
		extra = o.Stdin
	case strings.HasPrefix(rel, ".."+string(filepath.Separator)):
		f, err := os.Open(o.Dockerfile)
		if err != nil {
			return nil, fmt.Errorf("unable to open Dockerfile: %w", err)
		}
		defer f.Close()
		extra = f
	}
	return tarDir(root, filepath.ToSlash(rel), extra)
}

// tarDir tars root (an absolute, resolved directory) with its .dockerignore
// applied; rel is the Dockerfile's path inside it ("-" when it comes from
// extra instead).
func tarDir(root, rel string, extra io.Reader) (*Context, error) {
	excludes, err := ReadDockerignore(root)
	if err != nil {
		return nil, err
	}
	if err := validateDir(root, excludes); err != nil {
		return nil, fmt.Errorf("checking context: %w", err)
	}
	excludes = KeepBuildFiles(excludes, rel, extra != nil)
	tr, err := archive.TarWithOptions(root, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("tar context: %w", err)
	}
	c := &Context{Tar: tr, Dockerfile: rel}
	if extra != nil {
		if err := c.addDockerfile(extra); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// ReadDockerignore returns the patterns of dir/.dockerignore (none when
// there is no such file).
func ReadDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("error reading .dockerignore: %w", err)
	}
	return patterns, nil
}

// KeepBuildFiles adds exceptions so that .dockerignore and the Dockerfile
// are sent even when a pattern excludes them (the daemon needs them to
// build and removes them from what COPY sees). A Dockerfile that is added
// separately (fromOutside) is not forced in.
func KeepBuildFiles(excludes []string, dockerfile string, fromOutside bool) []string {
	if len(excludes) == 0 {
		return excludes
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return excludes // the tar step reports the bad pattern
	}
	out := append([]string(nil), excludes...)
	if m, _ := pm.MatchesOrParentMatches(".dockerignore"); m {
		out = append(out, "!.dockerignore")
	}
	dockerfile = filepath.ToSlash(dockerfile)
	if dockerfile != "" && !fromOutside {
		if m, _ := pm.MatchesOrParentMatches(dockerfile); m {
			out = append(out, "!"+dockerfile)
		}
	}
	return out
}

// resolveDir makes dir absolute with symlinks resolved and checks it is a directory.
func resolveDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("unable to get absolute context directory of given context directory %q: %w", dir, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in context path: %w", err)
	}
	st, err := os.Lstat(abs)
	if err != nil {
		return "", fmt.Errorf("unable to stat context directory %q: %w", abs, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("context must be a directory: %s", abs)
	}
	return abs, nil
}

// dockerfileRelPath is the Dockerfile's path relative to root (it starts
// with "../" when the file lies outside). given is "" for the default
// (Dockerfile, or dockerfile when only that exists), "-" for stdin, or an
// absolute path or one relative to root.
func dockerfileRelPath(root, given string) (string, error) {
	if given == "-" {
		return given, nil
	}
	abs := given
	if abs == "" {
		abs = filepath.Join(root, DefaultDockerfile)
		if _, err := os.Lstat(abs); errors.Is(err, os.ErrNotExist) {
			alt := filepath.Join(root, strings.ToLower(DefaultDockerfile))
			if _, err := os.Lstat(alt); err == nil {
				abs = alt
			}
		}
	}
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(root, abs)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in Dockerfile path: %w", err)
	}
	if _, err := os.Lstat(resolved); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("Cannot locate Dockerfile: %q", resolved)
		}
		return "", fmt.Errorf("unable to stat Dockerfile: %w", err)
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil {
		return "", fmt.Errorf("unable to get relative Dockerfile path: %w", err)
	}
	return rel, nil
}

// validateDir fails early, with docker's messages, on files that would make
// the tar fail half way: unreadable files and directories. Excluded paths
// are not looked at; dangling symlinks and pipes are fine.
func validateDir(root string, excludes []string) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrPermission):
				return fmt.Errorf("can't stat '%s'", p)
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("file ('%s') not found or excluded by .dockerignore", p)
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel = filepath.Clean(rel); rel != "." {
			if skip, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil {
				return err
			} else if skip {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.Type()&(fs.ModeSymlink|fs.ModeNamedPipe) != 0 || d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("no permission to read from '%s'", p)
		}
		if err == nil {
			f.Close()
		}
		return nil
	})
}
