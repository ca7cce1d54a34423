package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// followsLast reports docker cp's rule: a trailing "/" or "/." means the
// path names a directory, so a symlink at the end is followed.
func followsLast(p string) bool {
	return strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")
}

// baseName is the name docker cp gives the copied entry: the last element
// of the path as the user wrote it, "." for "dir/." (copy the contents).
func baseName(p string) string {
	if strings.HasSuffix(p, "/.") || p == "." {
		return "."
	}
	b := path.Base(p)
	if b == "/" {
		return "."
	}
	return b
}

// Stat describes path inside the container root. A symlink at the end is
// not followed (unless path ends in "/" or "/."); its LinkTarget is the
// fully resolved container path. Missing files give an errdefs.NotFound
// error wrapping os.ErrNotExist.
func Stat(ctx context.Context, root, p string) (*container.PathStat, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, _, err := stat(r, p)
	return st, err
}

func stat(r *os.Root, p string) (*container.PathStat, string, error) {
	res, err := resolve(r, p, followsLast(p))
	if err != nil {
		return nil, "", err
	}
	fi, err := r.Lstat(res)
	if err != nil {
		return nil, "", notFound(err)
	}
	name := path.Base(path.Clean("/" + p))
	if strings.HasSuffix(p, "/.") {
		name = "." // Docker names "dir/." after its last element too
	}
	st := &container.PathStat{Name: name, Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		full, err := resolve(r, p, true)
		if err != nil {
			return nil, "", err
		}
		st.LinkTarget = containerPath(full)
	}
	return st, res, nil
}

// TarPath returns a tar stream of path with entries named after its last
// element ("etc/...", or "./..." for "dir/."), and the path's stat.
func TarPath(ctx context.Context, root, p string) (io.ReadCloser, *container.PathStat, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, nil, err
	}
	st, res, err := stat(r, p)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer r.Close()
		tw := &tarWriter{ctx: ctx, r: r, tw: tar.NewWriter(pw), inodes: map[inode]string{}}
		err := tw.walk(res, baseName(p))
		if cerr := tw.tw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr, st, nil
}

type inode struct{ dev, ino uint64 }

type tarWriter struct {
	ctx    context.Context
	r      *os.Root
	tw     *tar.Writer
	inodes map[inode]string // first name written for a multiply-linked file
}

// walk writes relPath (inside the root) as name, recursing into
// directories without following symlinks.
func (w *tarWriter) walk(relPath, name string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	fi, err := w.r.Lstat(relPath)
	if err != nil {
		return fmt.Errorf("tar %s: %w", containerPath(relPath), err)
	}
	if err := w.writeEntry(relPath, name, fi); err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	d, err := w.r.Open(relPath)
	if err != nil {
		return fmt.Errorf("tar %s: %w", containerPath(relPath), err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("tar %s: %w", containerPath(relPath), err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := w.walk(path.Join(relPath, n), joinName(name, n)); err != nil {
			return err
		}
	}
	return nil
}

// joinName keeps the "./" prefix that path.Join would drop: the docker CLI
// rebases entries by prefix.
func joinName(dir, n string) string {
	if dir == "." {
		return "./" + n
	}
	return dir + "/" + n
}

func (w *tarWriter) writeEntry(relPath, name string, fi fs.FileInfo) error {
	hdr, err := w.header(relPath, name, fi)
	if err != nil || hdr == nil {
		return err
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := w.r.OpenFile(relPath, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("tar %s: %w", containerPath(relPath), err)
	}
	defer f.Close()
	// A file that grows while being read must not corrupt the stream.
	if _, err := io.Copy(w.tw, io.LimitReader(f, hdr.Size)); err != nil {
		return fmt.Errorf("tar %s: %w", containerPath(relPath), err)
	}
	return nil
}

// header builds the tar header by hand: tar.FileInfoHeader would look up
// user names in the host's passwd, which means nothing for a container.
// Sockets are skipped, as in Docker.
func (w *tarWriter) header(relPath, name string, fi fs.FileInfo) (*tar.Header, error) {
	m := fi.Mode()
	hdr := &tar.Header{Name: name, Mode: int64(m.Perm()), ModTime: fi.ModTime().Truncate(1e9)}
	if m&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	sys, _ := fi.Sys().(*syscall.Stat_t)
	if sys != nil {
		hdr.Uid, hdr.Gid = int(sys.Uid), int(sys.Gid)
	}
	switch {
	case m.IsDir():
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case m.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if sys != nil && sys.Nlink > 1 {
			key := inode{uint64(sys.Dev), sys.Ino}
			if first, ok := w.inodes[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				w.inodes[key] = name
			}
		}
	case m&fs.ModeSymlink != 0:
		target, err := w.r.Readlink(relPath)
		if err != nil {
			return nil, fmt.Errorf("tar %s: %w", containerPath(relPath), err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case m&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case m&fs.ModeDevice != 0 && sys != nil:
		hdr.Typeflag = tar.TypeBlock
		if m&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(sys.Rdev)), int64(unix.Minor(sys.Rdev))
	default:
		return nil, nil
	}
	return hdr, nil
}
