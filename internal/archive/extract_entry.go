package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
	"golang.org/x/sys/unix"
)

// create makes the filesystem object for one entry at target.
func (x *extractor) create(target, parent, name string, hdr *tar.Header, body io.Reader) error {
	perm := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.r.Mkdir(target, perm); err != nil && !os.IsExist(err) {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	case tar.TypeReg, tar.TypeRegA:
		// O_EXCL: a symlink raced into place is not followed.
		f, err := x.r.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		var hw io.Writer
		deferData := false
		if x.hook != nil {
			hw, deferData = x.hook(name, hdr.Size)
		}
		switch {
		case hw == nil:
			_, err = io.Copy(f, body)
		case deferData:
			if err = f.Truncate(hdr.Size); err == nil {
				err = copyLarge(hw, body)
			}
		default:
			err = copyLarge(io.MultiWriter(f, hw), body)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	case tar.TypeSymlink:
		if !path.IsAbs(hdr.Linkname) {
			// Docker refuses relative links that point above the destination.
			j := path.Join(path.Dir(name), hdr.Linkname)
			if j == ".." || strings.HasPrefix(j, "../") {
				return errdefs.Invalidf("invalid symlink %q -> %q: target is outside of the destination", hdr.Name, hdr.Linkname)
			}
		}
		if err := x.r.Symlink(hdr.Linkname, target); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	case tar.TypeLink:
		return x.hardlink(target, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.mknod(target, parent, hdr)
	default:
		return errdefs.Invalidf("unhandled tar header type %d for %q", hdr.Typeflag, hdr.Name)
	}
	return nil
}

// hardlink links target to another entry of the same archive; the link
// name is relative to the destination, like the entry names.
func (x *extractor) hardlink(target string, hdr *tar.Header) error {
	ln, err := cleanName(hdr.Linkname)
	if err != nil || ln == "." {
		return errdefs.Invalidf("invalid hardlink %q -> %q: target is outside of the destination", hdr.Name, hdr.Linkname)
	}
	dir, base := path.Split(ln)
	oldParent, err := resolve(x.r, containerPath(path.Join(x.dst, dir)), true)
	if err != nil {
		return err
	}
	if err := x.r.Link(path.Join(oldParent, base), target); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return nil
}

// mknod creates a device or fifo relative to the parent directory's fd,
// which was opened through the root.
func (x *extractor) mknod(target, parent string, hdr *tar.Header) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	d, err := x.r.Open(parent)
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	defer d.Close()
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := unix.Mknodat(int(d.Fd()), path.Base(target), mode, dev); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return nil
}

// metadata sets owner, mode and times. Owner first: chown clears setuid.
// Directory times are set at the end, after their contents are written.
func (x *extractor) metadata(target string, hdr *tar.Header) error {
	uid, gid := 0, 0
	if x.copyIDs {
		uid, gid = hdr.Uid, hdr.Gid
	}
	if err := x.r.Lchown(target, uid, gid); err != nil && !errorsIsPerm(err) {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := x.r.Chmod(target, tarMode(hdr.Mode)); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{rel: target, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	if err := x.r.Chtimes(target, atime, hdr.ModTime); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return nil
}

// finishDirs restores directory times, deepest first.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.r.Chtimes(d.rel, d.atime, d.mtime); err != nil {
			return fmt.Errorf("extract %s: %w", containerPath(d.rel), err)
		}
	}
	return nil
}

func tarMode(m int64) fs.FileMode {
	mode := fs.FileMode(m) & fs.ModePerm
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// errorsIsPerm tolerates chown failing when not running as root (tests).
func errorsIsPerm(err error) bool {
	return os.Geteuid() != 0 && (os.IsPermission(err) || errors.Is(err, syscall.EPERM))
}

// copyLarge copies in 1 MiB chunks: each chunk is a write syscall and a
// hand-off to the hook's reader; 32 KiB ones made a 50 MB file 1600 of each.
func copyLarge(w io.Writer, r io.Reader) error {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, err := io.CopyBuffer(w, r, *buf)
	return err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
