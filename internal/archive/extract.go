package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

// ErrExtractPointNotDirectory is Docker's error for a PUT archive whose
// destination is not a directory.
var ErrExtractPointNotDirectory = errdefs.Invalid(errors.New("extraction point is not a directory"))

// Extract unpacks the tar stream r into dstDir inside the container root,
// with PUT /containers/{id}/archive semantics. dstDir must exist and be a
// directory (a symlink to one is followed). Entry names may not climb out
// of dstDir; symlinks in the archive or the container are followed with the
// container's semantics, so writes through them stay inside the root.
// Without copyUIDGID files belong to the container's root (0:0).
func Extract(ctx context.Context, root, dstDir string, r io.Reader, noOverwriteDirNonDir bool, copyUIDGID bool) error {
	return ExtractWith(ctx, root, dstDir, r, ExtractOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, CopyUIDGID: copyUIDGID})
}

// ExtractOptions tune ExtractWith.
type ExtractOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
	// FileHook, when set, is called for each regular file (its cleaned
	// name relative to the destination, and its size); the returned
	// writer sees the file's bytes as they are written. The builder hashes
	// contexts so. With deferData the bytes go to the writer only: the
	// file is created at its full size but sparse, and its owner writes
	// the content if it ever needs it.
	FileHook func(name string, size int64) (w io.Writer, deferData bool)
}

// ExtractWith is Extract with options.
func ExtractWith(ctx context.Context, root, dstDir string, r io.Reader, o ExtractOptions) error {
	noOverwriteDirNonDir, copyUIDGID := o.NoOverwriteDirNonDir, o.CopyUIDGID
	rt, err := openRoot(root)
	if err != nil {
		return err
	}
	defer rt.Close()
	dst, err := resolve(rt, dstDir, true)
	if err != nil {
		return err
	}
	fi, err := rt.Lstat(dst)
	if err != nil {
		return notFound(err)
	}
	if !fi.IsDir() {
		return ErrExtractPointNotDirectory
	}
	x := &extractor{r: rt, dst: dst, noOverwrite: noOverwriteDirNonDir, copyIDs: copyUIDGID, hook: o.FileHook}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.Invalid(fmt.Errorf("reading archive: %w", err))
		}
		if err := x.entry(hdr, tr); err != nil {
			return classifyEntryError(err)
		}
	}
	return x.finishDirs()
}

// classifyEntryError makes the failures an archive's own content causes
// (a truncated body, a link to nothing, a name too long, a symlink loop, a
// file where a directory must be) client errors, so the API answers 400
// rather than 500. Failures of the host (a full disk, I/O errors,
// permissions) keep their class.
func classifyEntryError(err error) error {
	if errdefs.IsClassified(err) {
		return err
	}
	for _, e := range []error{io.ErrUnexpectedEOF, syscall.ENOENT, syscall.ENAMETOOLONG, syscall.ELOOP,
		syscall.EEXIST, syscall.ENOTDIR, syscall.EISDIR, syscall.EINVAL, syscall.EXDEV} {
		if errors.Is(err, e) {
			return errdefs.Invalid(err)
		}
	}
	return err
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

type extractor struct {
	r           *os.Root
	dst         string // root-relative, symlink-free
	noOverwrite bool
	copyIDs     bool
	hook        func(name string, size int64) (io.Writer, bool)
	dirs        []dirTime
}

// cleanName makes a tar name relative to the destination, refusing names
// that climb out of it. A leading "/" means the destination, as in Docker.
func cleanName(name string) (string, error) {
	c := path.Clean(strings.TrimLeft(name, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errdefs.Invalidf("invalid archive entry %q: path is outside of the destination", name)
	}
	return c, nil
}

// place resolves where entry name goes: its parent directory is resolved
// (and created) inside the root; the last element is never followed.
func (x *extractor) place(name string) (target, parent string, err error) {
	dir, base := path.Split(name)
	parent, err = resolve(x.r, containerPath(path.Join(x.dst, dir)), true)
	if err != nil {
		return "", "", err
	}
	if err := x.r.MkdirAll(parent, 0o755); err != nil {
		return "", "", fmt.Errorf("extract %s: %w", name, err)
	}
	return path.Join(parent, base), parent, nil
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		// The destination itself: it exists, and Berth does not let an
		// archive change its owner or mode.
		return nil
	}
	target, parent, err := x.place(name)
	if err != nil {
		return err
	}
	if err := x.clear(target, hdr); err != nil {
		return err
	}
	if err := x.create(target, parent, name, hdr, body); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		return nil
	}
	return x.metadata(target, hdr)
}

// clear removes what is in the way of a new entry, except that a directory
// entry merges into an existing directory.
func (x *extractor) clear(target string, hdr *tar.Header) error {
	fi, err := x.r.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	isDir := hdr.Typeflag == tar.TypeDir
	if x.noOverwrite {
		if fi.IsDir() && !isDir {
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", containerPath(target), hdr.Name)
		}
		if !fi.IsDir() && isDir {
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", containerPath(target), hdr.Name)
		}
	}
	if fi.IsDir() && isDir {
		return nil
	}
	if err := x.r.RemoveAll(target); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return nil
}
