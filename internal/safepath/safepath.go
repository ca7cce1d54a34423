// Package safepath opens paths inside a directory that untrusted code can
// change (a volume shared with containers, a container's rootfs) without
// ever leaving it, and hands the opened file to a bind mount by fd so no
// path is resolved again between the check and the use.
//
// A container that shares a volume can replace any component of a
// sub-path with a symlink ("x -> /") at any moment; joining strings and
// Lstat'ing the result, then giving the string to the runtime, bound
// whatever the path named by then, the host's root included.
package safepath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrEscapes is returned when the path leaves its root (through "..", an
// absolute symlink or a relative one that climbs out).
var ErrEscapes = errors.New("path escapes its root")

// OpenBeneath opens sub inside root as an O_PATH file. Every component,
// symlinks included, is resolved by the kernel (openat2 RESOLVE_BENEATH)
// and may not leave root; magic links (/proc/self/fd/...) are refused.
func OpenBeneath(root, sub string) (*os.File, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	if sub == "" {
		sub = "."
	}
	fd, err := unix.Openat2(rfd, sub, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	for errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		// A rename elsewhere on the filesystem raced the lookup: retry.
		fd, err = unix.Openat2(rfd, sub, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		})
	}
	if errors.Is(err, unix.EXDEV) {
		return nil, fmt.Errorf("%s in %s: %w", sub, root, ErrEscapes)
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root, sub), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, sub)), nil
}

// BindFd bind-mounts the file or directory f refers to at target,
// creating target (an empty directory or file of the same kind, mode
// 0700/0600) when missing. The mount goes through /proc/self/fd, so it is
// exactly what was opened.
func BindFd(f *os.File, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	} else {
		t, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		t.Close()
	}
	src := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", f.Name(), target, err)
	}
	return nil
}

// Unbind detaches what BindFd mounted at target and removes target. A
// target that is not mounted (already cleaned, or never mounted) is only
// removed; nothing under it is ever deleted recursively.
func Unbind(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
