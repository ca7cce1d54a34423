package archive

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MkdirAll creates directory dir inside the container root with the
// container's path semantics (symlinks resolved inside the root), giving
// the directories it creates mode 0755 and owner uid:gid, as Docker's
// builder does for a COPY destination or a WORKDIR.
func MkdirAll(ctx context.Context, root, dir string, uid, gid int) error {
	r, err := openRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	var done []string
	for _, c := range splitPath(dir) {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := resolve(r, containerPath(rel(append(done, c))), true)
		if err != nil {
			return err
		}
		fi, err := r.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("mkdir %s: %s is not a directory", dir, containerPath(p))
		case err == nil:
		case os.IsNotExist(err):
			if err := r.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("mkdir %s: %w", dir, err)
			}
			if err := r.Lchown(p, uid, gid); err != nil {
				return fmt.Errorf("mkdir %s: %w", dir, err)
			}
			// Mkdir is subject to the umask; Docker's dirs are 0755.
			if err := r.Chmod(p, 0o755|fs.ModeDir); err != nil {
				return fmt.Errorf("mkdir %s: %w", dir, err)
			}
		default:
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
		done = splitPath(p)
	}
	return nil
}

// IsDir reports whether p names a directory inside the container root,
// following symlinks inside the root. A missing path is not an error.
func IsDir(root, p string) (bool, error) {
	r, err := openRoot(root)
	if err != nil {
		return false, err
	}
	defer r.Close()
	rp, err := resolve(r, p, true)
	if err != nil {
		return false, err
	}
	fi, err := r.Stat(rp)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// HostPath resolves p inside root with the container's semantics
// (symlinks followed, never out of root) and returns the host path. Use
// it only on a root that no running process can change.
func HostPath(root, p string) (string, error) {
	r, err := openRoot(root)
	if err != nil {
		return "", err
	}
	defer r.Close()
	rp, err := resolve(r, p, true)
	if err != nil {
		return "", err
	}
	if _, err := r.Lstat(rp); err != nil {
		return "", notFound(err)
	}
	return filepath.Join(root, filepath.FromSlash(rp)), nil
}
