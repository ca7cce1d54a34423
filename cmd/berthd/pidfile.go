package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pidLock is the pid file of a running daemon, held locked for its life.
// The lock (flock, released by the kernel when the process dies however
// it dies) is what says "a berthd runs here": a file left by a crashed
// daemon is unlocked and is simply taken over, as dockerd does, even when
// its pid has since been reused by another process.
type pidLock struct {
	path string
	f    *os.File
}

// acquirePidfile locks path and writes our pid into it. It refuses only
// when another berthd holds the lock, or (for a daemon too old to lock)
// when the recorded pid is a live, non-zombie berthd other than us.
func acquirePidfile(path string) (*pidLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
		}
		return nil, fmt.Errorf("lock pid file %s: %w", path, err)
	}
	// The file we locked may have been removed (and another created) by a
	// daemon that was exiting while we opened it: then start over on the
	// new one rather than hold a lock on an unlinked inode.
	if same, err := sameFile(f, path); err != nil || !same {
		f.Close()
		if err != nil {
			return nil, err
		}
		return acquirePidfile(path)
	}
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 && pid != os.Getpid() && isLiveBerthd(pid) {
		f.Close()
		return nil, fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		f.Close()
		return nil, err
	}
	return &pidLock{path: path, f: f}, nil
}

// release removes the file while still holding the lock, so a daemon that
// starts meanwhile either sees our lock or a fresh file.
func (p *pidLock) release() {
	os.Remove(p.path)
	p.f.Close()
}

func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// isLiveBerthd reports whether pid runs berthd and is not a zombie. A pid
// reused by any other program after a crash does not count.
func isLiveBerthd(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself contain ") ".
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if self, err := os.Executable(); err == nil && exe == self {
		return true
	}
	return strings.HasPrefix(filepath.Base(exe), "berthd")
}

// lockDataRoot keeps a second daemon (with another exec root and pid
// file) off a data root that a live one is using: two daemons writing the
// same stores would corrupt them. The lock dies with the process.
func lockDataRoot(root string) (*os.File, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(root, "berthd.lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data-root lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("data root %s is in use by another berthd", root)
		}
		return nil, fmt.Errorf("lock data root %s: %w", root, err)
	}
	return f, nil
}
