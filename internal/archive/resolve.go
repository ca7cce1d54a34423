// Package archive implements docker cp: stat, tar out and extract in, with
// every path resolved inside a container's root filesystem.
//
// The root is a host path (the mounted rootfs, or /proc/<pid>/root of a
// running container). Paths are resolved with the container's semantics:
// an absolute symlink target means the container's root and ".." stops at
// it, so nothing can name a host file outside the root. Resolution is done
// by hand on top of os.Root, and the final operation goes through the same
// os.Root, so a symlink swapped in by a process in the container after the
// check can at worst point somewhere else inside the root: os.Root refuses
// to leave it.
package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
)

// maxSymlinks bounds symlink expansion like the kernel's ELOOP limit.
const maxSymlinks = 40

// openRoot opens the container root, classing a missing root as not found.
func openRoot(root string) (*os.Root, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound(err)
		}
		return nil, fmt.Errorf("open container root: %w", err)
	}
	return r, nil
}

// splitPath returns the non-empty components of a container path.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// resolve turns a container path into a root-relative path without
// symlinks (as of now). The last element is followed only if followLast.
// Missing components are kept as they are, so the caller's operation fails
// with ENOENT or creates them.
func resolve(r *os.Root, p string, followLast bool) (string, error) {
	queue := splitPath(p)
	var done []string
	links := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := rel(append(done, c))
		if len(queue) == 0 && !followLast {
			done = append(done, c)
			break
		}
		fi, err := r.Lstat(cand)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing or not a link: keep the name as it is.
			done = append(done, c)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		target, err := r.Readlink(cand)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if path.IsAbs(target) {
			done = nil
		}
		queue = append(splitPath(target), queue...)
	}
	return rel(done), nil
}

func rel(parts []string) string {
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

// containerPath is the absolute container path of a root-relative one.
func containerPath(relPath string) string {
	return path.Clean("/" + relPath)
}

// notFound classes a missing file as NotFound, keeping os.ErrNotExist
// reachable with errors.Is so the daemon can word its own message.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound(err)
	}
	return err
}
