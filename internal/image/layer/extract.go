package layer

// A layer is unpacked by the same pass over its tar that records it (see
// UnpackRecorded): each entry is created as its header and body stream
// past, so the tar is parsed once, its bytes are copied once on their way
// to the disk, and no goroutine waits on another for them. Unpacking with
// go-archive behind a pipe parsed every tar twice and handed each 32 KB
// between three goroutines; on two cores the hand-offs, not the work, set
// the pace of a load.
//
// What is created is what go-archive's Unpack with overlay whiteouts
// creates (the layer store's format since the first layer): entries are
// replaced by a later entry of the same name, directories merged; missing
// parents are made 0755; ".wh.NAME" becomes a 0/0 character device NAME
// and ".wh..wh..opq" the opaque xattr of its directory; owners, modes
// (setuid and sticky bits too), PAX xattrs and times as the header says,
// directory times last. Containment is the kernel's: every entry is
// created relative to its parent directory, opened with openat2 beneath
// the layer's root and through no symlink, so no entry, hard link or
// whiteout reaches outside the layer, whatever the tar says.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	tstar "github.com/vbatts/tar-split/archive/tar"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattr       = "SCHILY.xattr."
	impliedDirMode = 0o755

	// copyChunk is how much of a file's body is read before it is
	// written: a few large writes, and few wake-ups of the hasher.
	copyChunk = 512 << 10
	// writebackChunk is how much of a large file is written before the
	// disk is asked to start writing it out, so the final sync of a pull
	// or load finds little left to write.
	writebackChunk = 8 << 20
)

// extractor creates one layer's entries under its root directory.
type extractor struct {
	root   int // the layer's directory (O_RDONLY, so it takes xattrs)
	rootAt string
	parent struct { // the last entry's parent, kept open: tars list a directory's entries together
		name string
		fd   int
	}
	dirs []dirTimes
	buf  []byte
	wb   *flusher
}

// dirTimes are a directory's times, set after its last entry is made.
type dirTimes struct {
	name         string
	atime, mtime time.Time
}

func newExtractor(dir string) (*extractor, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	x := &extractor{root: fd, rootAt: dir, buf: make([]byte, copyChunk), wb: newFlusher()}
	x.parent.fd = -1
	return x, nil
}

// close releases the directories and sets the directories' times. The
// flusher finishes on its own: the store's final syncfs is what makes
// the layer durable.
func (x *extractor) close() error {
	defer x.wb.close()
	defer unix.Close(x.root)
	defer x.forgetParent()
	// A directory a later entry replaced by a symlink gets the times on
	// the symlink: nothing is followed.
	for _, d := range x.dirs {
		dir, base := path.Split(d.name)
		pfd, err := x.dirFd(path.Clean(dir), false)
		if err != nil {
			return err
		}
		if err := setTimes(pfd, base, d.atime, d.mtime, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chtimes %s: %w", d.name, err)
		}
	}
	return nil
}

// abort releases what close releases without finishing the layer.
func (x *extractor) abort() {
	x.wb.close()
	x.forgetParent()
	unix.Close(x.root)
}

func (x *extractor) forgetParent() {
	if x.parent.fd >= 0 {
		unix.Close(x.parent.fd)
	}
	x.parent.name, x.parent.fd = "", -1
}

// entryName is the root-relative name of an entry, "." for the root, or
// an error for a name outside the layer.
func entryName(name string) (string, error) {
	n := path.Clean(strings.TrimLeft(name, "/"))
	if n != "." && !filepath.IsLocal(n) {
		return "", fmt.Errorf("invalid entry name %q: outside the layer", name)
	}
	return n, nil
}

// parentOf opens the directory name is in (making it and its parents if
// missing) and gives name's last element.
func (x *extractor) parentOf(name string) (int, string, error) {
	dir, base := path.Split(name)
	dir = path.Clean(dir)
	fd, err := x.dirFd(dir, true)
	return fd, base, err
}

// dirFd opens dir (a cleaned relative name) beneath the root, through no
// symlink. With create, missing directories are made.
func (x *extractor) dirFd(dir string, create bool) (int, error) {
	if dir == "." || dir == "" {
		return x.root, nil
	}
	if x.parent.fd >= 0 && x.parent.name == dir {
		return x.parent.fd, nil
	}
	fd, err := x.openDir(dir)
	if errors.Is(err, unix.ENOENT) && create {
		up, base := path.Split(dir)
		pfd, perr := x.dirFd(path.Clean(up), true)
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, base, impliedDirMode); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
		return x.dirFd(dir, false)
	}
	if err != nil {
		return -1, err
	}
	x.forgetParent()
	x.parent.name, x.parent.fd = dir, fd
	return fd, nil
}

// openDir opens dir (a cleaned relative name, not ".") beneath the
// root, through no symlink; the caller closes it.
func (x *extractor) openDir(dir string) (int, error) {
	fd, err := unix.Openat2(x.root, dir, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// entry creates hdr; body is the entry's body (a regular file's bytes),
// also written to out as it is read. What the entry does not read the
// caller passes on.
func (x *extractor) entry(hdr *tstar.Header, body io.Reader, out io.Writer) error {
	if hdr.Typeflag == tstar.TypeXGlobalHeader {
		return nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // go-archive leaves the root as it is
	}
	pfd, base, err := x.parentOf(name)
	if err != nil {
		return err
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(pfd, name, base, hdr)
	}
	if err := x.create(pfd, name, base, hdr, body, out); err != nil {
		return err
	}
	return nil
}

// whiteout turns an AUFS whiteout entry into its overlay form.
func (x *extractor) whiteout(pfd int, name, base string, hdr *tstar.Header) error {
	if err := x.clear(pfd, name, base); err != nil {
		return err
	}
	switch base {
	case whiteoutPrefix, whiteoutPrefix + ".", whiteoutPrefix + "..":
		return fmt.Errorf("invalid whiteout entry %q", hdr.Name)
	case whiteoutOpaque:
		if err := unix.Fsetxattr(pfd, opaqueXattr, []byte{'y'}, 0); err != nil {
			return fmt.Errorf("fsetxattr(%s, %s=y): %w", path.Dir(name), opaqueXattr, err)
		}
		return nil
	}
	orig := base[len(whiteoutPrefix):]
	if err := unix.Mknodat(pfd, orig, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("mknod %s: %w", path.Join(path.Dir(name), orig), err)
	}
	if hdr.Uid != 0 || hdr.Gid != 0 {
		if err := unix.Fchownat(pfd, orig, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", path.Join(path.Dir(name), orig), err)
		}
	}
	return nil
}

// clear removes whatever is at name, if anything.
func (x *extractor) clear(pfd int, name, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	return x.remove(pfd, name, base, st.Mode&unix.S_IFMT == unix.S_IFDIR)
}

func (x *extractor) remove(pfd int, name, base string, isDir bool) error {
	if !isDir {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return &os.PathError{Op: "remove", Path: name, Err: err}
		}
		return nil
	}
	// The path has no symlink in it (its parent was opened through none)
	// and RemoveAll removes a link without following it. The cached
	// parent may be inside what goes.
	x.forgetParent()
	return os.RemoveAll(filepath.Join(x.rootAt, name))
}

// create makes the entry, replacing what an earlier entry left at its
// name (a directory on a directory is merged).
func (x *extractor) create(pfd int, name, base string, hdr *tstar.Header, body io.Reader, out io.Writer) error {
	var link string // a hard link's target, root-relative
	if hdr.Typeflag == tstar.TypeLink {
		var err error
		if link, err = entryName(hdr.Linkname); err != nil || link == "." {
			return fmt.Errorf("invalid hardlink target %q", hdr.Linkname)
		}
	}
	fd := -1
	made := func() error {
		var err error
		switch hdr.Typeflag {
		case tstar.TypeDir:
			err = unix.Mkdirat(pfd, base, uint32(hdr.Mode&0o777))
			if errors.Is(err, unix.EEXIST) {
				var st unix.Stat_t
				if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
					return nil // merged
				}
			}
		case tstar.TypeReg, tstar.TypeRegA:
			fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(hdr.Mode&0o777))
		case tstar.TypeBlock, tstar.TypeChar, tstar.TypeFifo:
			err = x.mknod(pfd, base, hdr)
		case tstar.TypeLink:
			tdir, tbase := path.Split(link)
			tfd := x.root
			if tdir = path.Clean(tdir); tdir != "." {
				if tfd, err = x.openDir(tdir); err != nil {
					return err
				}
				defer unix.Close(tfd)
			}
			err = unix.Linkat(tfd, tbase, pfd, base, 0)
		case tstar.TypeSymlink:
			err = unix.Symlinkat(hdr.Linkname, pfd, base)
		default:
			return fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
		}
		return err
	}
	err := made()
	if errors.Is(err, unix.EEXIST) {
		if err := x.clear(pfd, name, base); err != nil {
			return err
		}
		// Removing a directory forgets the cached parent: open it again.
		if pfd, _, err = x.parentOf(name); err != nil {
			return err
		}
		err = made()
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	if fd >= 0 {
		defer unix.Close(fd)
		if err := x.fill(fd, name, hdr.Size, body, out); err != nil {
			return err
		}
	}
	return x.metadata(pfd, fd, name, base, link, hdr)
}

func (x *extractor) mknod(pfd int, base string, hdr *tstar.Header) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tstar.TypeBlock:
		mode |= unix.S_IFBLK
	case tstar.TypeChar:
		mode |= unix.S_IFCHR
	default:
		mode |= unix.S_IFIFO
	}
	if hdr.Devmajor < 0 || hdr.Devmajor > 1<<32-1 || hdr.Devminor < 0 || hdr.Devminor > 1<<32-1 {
		return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
	}
	return unix.Mknodat(pfd, base, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
}

// fill writes a regular file's size bytes from body to fd and to out,
// starting the disk's writeback of a large file as it grows (a 1 MB file
// at its end; a small one is left to the final sync, where a request
// each would cost more than it saves).
func (x *extractor) fill(fd int, name string, size int64, body io.Reader, out io.Writer) error {
	var off, flushed int64
	wfd := -1 // fd's duplicate, the flusher's to close
	flush := func(last bool) {
		if wfd < 0 {
			var err error
			if wfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
				wfd = -1
				return
			}
		}
		x.wb.push(flushReq{fd: wfd, off: flushed, n: off - flushed, last: last})
		flushed = off
	}
	for off < size {
		n, err := io.ReadFull(body, x.buf[:min(int64(len(x.buf)), size-off)])
		if n > 0 {
			if _, werr := out.Write(x.buf[:n]); werr != nil {
				return werr
			}
			if werr := writeAll(fd, x.buf[:n]); werr != nil {
				return &os.PathError{Op: "write", Path: name, Err: werr}
			}
			off += int64(n)
		}
		if err != nil {
			if wfd >= 0 {
				flush(true)
			}
			return &TarError{err} // the tar ended inside the file
		}
		if off-flushed >= writebackChunk {
			flush(false)
		}
	}
	if wfd >= 0 || off >= writebackMin {
		flush(true)
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// metadata gives the entry its owner, xattrs, mode and times. fd is the
// open regular file, or -1.
func (x *extractor) metadata(pfd, fd int, name, base, link string, hdr *tstar.Header) error {
	var err error
	if fd >= 0 {
		err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
	} else {
		err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("failed to Lchown %q for UID %d, GID %d: %w", name, hdr.Uid, hdr.Gid, err)
	}
	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, paxXattr)
		if !ok {
			continue
		}
		if fd >= 0 {
			err = unix.Fsetxattr(fd, attr, []byte(value), 0)
		} else {
			err = unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base), attr, []byte(value), 0)
		}
		if err != nil && !errors.Is(err, unix.EPERM) { // EPERM: not allowed here (go-archive skips it too)
			return fmt.Errorf("lsetxattr %s %s: %w", name, attr, err)
		}
	}
	// A hard link's mode and times are its target's; they are set
	// through it only when the target is no symlink (no lchmod).
	follow := hdr.Typeflag != tstar.TypeSymlink
	if hdr.Typeflag == tstar.TypeLink {
		var st unix.Stat_t
		follow = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFLNK
	}
	atime, mtime := boundTime(latest(hdr.AccessTime, hdr.ModTime)), boundTime(hdr.ModTime)
	if hdr.Typeflag == tstar.TypeDir {
		x.dirs = append(x.dirs, dirTimes{name: name, atime: atime, mtime: mtime})
	}
	if !follow {
		if hdr.Typeflag == tstar.TypeSymlink {
			return setTimes(pfd, base, atime, mtime, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	}
	mode := uint32(hdr.Mode & 0o7777)
	if fd >= 0 {
		err = unix.Fchmod(fd, mode)
	} else {
		err = unix.Fchmodat(pfd, base, mode, 0)
	}
	if err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if hdr.Typeflag == tstar.TypeDir {
		return nil // set when the layer is done
	}
	return setTimes(pfd, base, atime, mtime, 0)
}

// The times go-archive bounds a header's times to.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, 1<<63-1)
)

func boundTime(t time.Time) time.Time {
	if t.Before(minTime) || t.After(maxTime) {
		return minTime
	}
	return t
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func setTimes(pfd int, base string, atime, mtime time.Time, flags int) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if base == "" {
		base = "."
	}
	return unix.UtimesNanoAt(pfd, base, ts, flags)
}

// flusher starts the disk's writeback of file ranges on a goroutine of its
// own: submitting writes can wait for the disk's queue, and the unpack
// should not.
type flusher struct{ ch chan flushReq }

type flushReq struct {
	fd     int
	off, n int64
	last   bool // close fd after
}

func newFlusher() *flusher {
	f := &flusher{ch: make(chan flushReq, 64)}
	go func() {
		for r := range f.ch {
			unix.SyncFileRange(r.fd, r.off, r.n, unix.SYNC_FILE_RANGE_WRITE)
			if r.last {
				unix.Close(r.fd)
			}
		}
	}()
	return f
}

// push queues r. A range is dropped when the queue is full (the final
// sync writes it); a file's last request never is, it closes the fd.
func (f *flusher) push(r flushReq) {
	if r.last {
		f.ch <- r
		return
	}
	select {
	case f.ch <- r:
	default:
	}
}

func (f *flusher) close() { close(f.ch) }
