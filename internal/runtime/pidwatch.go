package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pidWatch notices the runtime's pid file appearing without polling:
// runc writes it to a temp name and renames it into place, so the
// directory's IN_MOVED_TO (or IN_CLOSE_WRITE for a direct write) marks
// the moment the exec'd process exists.
type pidWatch struct {
	f    *os.File
	path string
}

var errRuntimeExited = errors.New("runtime exited before the process started")

func watchPidFile(path string) (*pidWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", filepath.Dir(path), err)
	}
	// A non-blocking fd in an os.File goes through the poller, so Close
	// from another goroutine interrupts a pending Read.
	return &pidWatch{f: os.NewFile(uintptr(fd), "inotify"), path: path}, nil
}

// close releases the watch in the background: closing an inotify instance
// waits for an SRCU grace period in the kernel (fsnotify tears its marks
// down that way), 10–20 ms here, which the exec must not wait for.
func (w *pidWatch) close() { go w.f.Close() }

// wait returns the pid once the file is written, or an error when exited
// closes first (and the file is still missing) or ctx ends.
func (w *pidWatch) wait(ctx context.Context, exited <-chan struct{}) (int, error) {
	found := make(chan int, 1)
	go w.read(found)
	select {
	case pid := <-found:
		return pid, nil
	case <-exited:
		if pid, err := readPid(w.path); err == nil {
			return pid, nil
		}
		return 0, errRuntimeExited
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (w *pidWatch) read(found chan<- int) {
	name := filepath.Base(w.path)
	buf := make([]byte, 4096)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if strings.TrimRight(string(nameBytes), "\x00") != name {
				continue
			}
			if pid, err := readPid(w.path); err == nil {
				found <- pid
				return
			}
		}
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad content %q", path, b)
	}
	return pid, nil
}
