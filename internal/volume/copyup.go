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
	root, err := os.OpenRoot(v.Mountpoint)
	if err != nil {
		return false, fmt.Errorf("copy-up into %s: %w", name, err)
	}
	defer root.Close()
	c := copier{dst: root, links: map[uint64]string{}}
	if err := c.copyTree(ctx, src); err != nil {
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

// copier writes into a volume that another container may be using at
// the same time (a shared, still empty volume): that container can swap
// any directory the copy creates for a symlink to a host path. Every write
// therefore goes through dst, an os.Root on the volume, which resolves
// each path component inside it; operations that os.Root lacks (mknod,
// xattrs, times on symlinks) act on one name inside a directory fd opened
// through it, never following that name.
type copier struct {
	dst   *os.Root
	links map[uint64]string // inode -> first copy (relative to dst), for hard links
}

// copyTree copies src's content into the volume and gives the volume's
// root src's metadata.
func (c *copier) copyTree(ctx context.Context, src string) error {
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
		return c.copyEntry(p, rel)
	})
	if err != nil {
		return err
	}
	// Directory times last: creating entries inside changed them.
	if err := c.dirMeta(src, "."); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return c.dirMeta(p, rel)
	})
}

func (c *copier) copyEntry(src, rel string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode()
	if mode.IsRegular() && st.Nlink > 1 {
		if first, ok := c.links[st.Ino]; ok {
			return c.dst.Link(first, rel)
		}
		c.links[st.Ino] = rel
	}
	switch {
	case mode.IsDir():
		if err := c.dst.Mkdir(rel, 0o700); err != nil {
			return err
		}
		return nil // metadata after the content (dirMeta)
	case mode.IsRegular():
		if err := c.copyFile(src, rel); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := c.dst.Symlink(target, rel); err != nil {
			return err
		}
	case mode&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket) != 0:
		if err := c.inDir(rel, func(dfd int, base string) error {
			return unix.Mknodat(dfd, base, st.Mode, int(st.Rdev))
		}); err != nil {
			return err
		}
	default:
		return nil
	}
	return c.applyMeta(src, rel, fi, st)
}

func (c *copier) dirMeta(src, rel string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	return c.applyMeta(src, rel, fi, fi.Sys().(*syscall.Stat_t))
}

// inDir opens rel's parent inside the volume and calls fn with its fd and
// rel's last component.
func (c *copier) inDir(rel string, fn func(dfd int, base string) error) error {
	dir, base := filepath.Split(rel)
	if dir == "" {
		dir = "."
	}
	if base == "" || base == "." {
		// The volume root itself: act on it through its parent's view,
		// which for the root is the root opened as ".".
		d, err := c.dst.OpenFile(".", os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer d.Close()
		return fn(int(d.Fd()), ".")
	}
	d, err := c.dst.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()), base)
}

// applyMeta copies owner, xattrs, mode (after chown, which clears setuid)
// and times, never following a symlink out of the volume.
func (c *copier) applyMeta(src, rel string, fi fs.FileInfo, st *syscall.Stat_t) error {
	if err := c.dst.Lchown(rel, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := c.inDir(rel, func(dfd int, base string) error {
		// lsetxattr on one name inside a directory we hold: the final
		// name is not followed and the directory cannot be swapped.
		return copyXattrs(src, fmt.Sprintf("/proc/self/fd/%d/%s", dfd, base))
	}); err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := c.dst.Chmod(rel, fs.FileMode(st.Mode&0o777)|setBits(st.Mode)); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return c.inDir(rel, func(dfd int, base string) error {
		return unix.UtimesNanoAt(dfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// setBits turns the setuid, setgid and sticky bits of a raw mode into
// fs.FileMode bits, which os.Root.Chmod understands.
func setBits(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&unix.S_ISUID != 0 {
		out |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= fs.ModeSticky
	}
	return out
}

func (c *copier) copyFile(src, rel string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := c.dst.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
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
