package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// CopyUp is Docker's population of a new volume: when the volume is empty
// and the container's root has a directory at destination, its content is
// copied in, keeping owners, modes, times and xattrs, and the volume's root
// takes that directory's owner and mode (so a non-root image user can write
// to its VOLUME). It reports whether anything was copied.
//
// rootfs is the container's mounted root; destination is resolved inside it
// with the container's view of symlinks, so an image cannot point the copy
// at a host path.
func (s *Store) CopyUp(ctx context.Context, name, rootfs, destination string) (bool, error) {
	v, err := s.Get(ctx, name)
	if err != nil {
		return false, err
	}
	src, err := resolveInRoot(rootfs, destination)
	if err != nil {
		return false, err
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return false, nil // nothing in the image there: nothing to copy
	}
	des, err := os.ReadDir(v.Mountpoint)
	if err != nil {
		return false, fmt.Errorf("copy-up into %s: %w", name, err)
	}
	if len(des) > 0 {
		return false, nil
	}
	c := copier{links: map[uint64]string{}}
	if err := c.copyTree(ctx, src, v.Mountpoint); err != nil {
		return false, fmt.Errorf("copy %s into volume %s: %w", destination, name, err)
	}
	return true, nil
}

// resolveInRoot turns a container path into a host path under root, with
// absolute symlink targets meaning the container's root and ".." stopping
// at it.
func resolveInRoot(root, p string) (string, error) {
	queue := strings.Split(path.Clean("/"+p), "/")
	var done []string
	for links := 0; len(queue) > 0; {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		host := filepath.Join(append([]string{root}, append(done, c)...)...)
		fi, err := os.Lstat(host)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		queue = append(strings.Split(target, "/"), queue...)
	}
	return filepath.Join(append([]string{root}, done...)...), nil
}

type copier struct {
	links map[uint64]string // inode -> first copy, for hard links
}

// copyTree copies src's content into the existing directory dst and gives
// dst src's metadata.
func (c *copier) copyTree(ctx context.Context, src, dst string) error {
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == src {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return c.copyEntry(p, filepath.Join(dst, rel))
	})
	if err != nil {
		return err
	}
	// Directory times last: creating entries inside changed them.
	if err := c.dirMeta(src, dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return c.dirMeta(p, filepath.Join(dst, rel))
	})
}

func (c *copier) copyEntry(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode()
	if mode.IsRegular() && st.Nlink > 1 {
		if first, ok := c.links[st.Ino]; ok {
			return os.Link(first, dst)
		}
		c.links[st.Ino] = dst
	}
	switch {
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		return nil // metadata after the content (dirMeta)
	case mode.IsRegular():
		if err := copyFile(src, dst); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case mode&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket) != 0:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return nil
	}
	return applyMeta(src, dst, fi, st)
}

func (c *copier) dirMeta(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	return applyMeta(src, dst, fi, fi.Sys().(*syscall.Stat_t))
}

// applyMeta copies owner, xattrs, mode (after chown, which clears setuid)
// and times, never following a symlink.
func applyMeta(src, dst string, fi fs.FileInfo, st *syscall.Stat_t) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := unix.Chmod(dst, st.Mode&07777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyXattrs copies every extended attribute the destination accepts; one
// the destination filesystem does not support is skipped, as cp -a does.
func copyXattrs(src, dst string) error {
	names, err := listXattrs(src)
	if err != nil {
		return nil
	}
	for _, n := range names {
		val, err := getXattr(src, n)
		if err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, n, val, 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
				continue
			}
			return fmt.Errorf("set xattr %s on %s: %w", n, dst, err)
		}
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	n, err := unix.Llistxattr(p, nil)
	if err != nil || n == 0 {
		return nil, err
	}
	buf := make([]byte, n)
	n, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func getXattr(p, name string) ([]byte, error) {
	n, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	n, err = unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
