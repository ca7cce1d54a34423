package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// follow streams f from its current offset, then waits for more. When
// the writer rotates (path now names another inode) it finishes the old
// file and continues with the next one from its start: a follower slower
// than the writer may find several rotations done and reads each file
// still kept (a file already rotated out is lost to it, as with dockerd).
func (r *reader) follow(f *os.File) error {
	br := bufio.NewReader(f)
	var pending []byte
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	rotated := false
	// f is replaced on rotation; the caller closes only the first one.
	first := f
	defer func() {
		if f != first {
			f.Close()
		}
	}()
	for {
		// Taken before reading: once the writer has finished, reading to
		// EOF sees everything it wrote.
		final := r.final()
		var err error
		pending, err = r.copyLines(br, pending)
		if err != io.EOF {
			return err
		}
		if rotated {
			// The old file was closed before the rename, so it is
			// complete: switch to the one written after it.
			nf, err := r.nextFile(f)
			if err != nil {
				return err
			}
			if f != first {
				f.Close()
			}
			f, rotated, pending = nf, false, pending[:0]
			br.Reset(f)
			continue
		}
		rotated, err = isRotated(r.path, f)
		if err != nil {
			return err
		}
		if rotated {
			continue
		}
		if final {
			return nil
		}
		if err := r.wait(tick); err != nil {
			return err
		}
	}
}

func isRotated(path string, f *os.File) (bool, error) {
	cur, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		// Between the rename and the new file's creation.
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("follow log: %w", err)
	}
	mine, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("follow log: %w", err)
	}
	return !os.SameFile(cur, mine), nil
}

// nextFile opens the file the writer started after f: the one after f's
// inode in path.N ... path.1, path. When f has been rotated out, the
// oldest file left is the nearest. It waits while the writer is between
// its rename and the new file's creation.
func (r *reader) nextFile(f *os.File) (*os.File, error) {
	mine, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("follow log: %w", err)
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		final := r.final()
		files, err := openAll(r.path)
		next := pickNext(files, mine)
		for _, g := range files {
			if g != next {
				g.Close()
			}
		}
		if err != nil {
			if next != nil {
				next.Close()
			}
			return nil, err
		}
		if next != nil {
			return next, nil
		}
		if final {
			return nil, errStop
		}
		if err := r.wait(tick); err != nil {
			return nil, err
		}
	}
}

// pickNext returns the file after the one that is mine (files are oldest
// first), the oldest when mine is gone, or nil when mine is still newest.
func pickNext(files []*os.File, mine os.FileInfo) *os.File {
	if len(files) == 0 {
		return nil
	}
	for i, g := range files {
		st, err := g.Stat()
		if err == nil && os.SameFile(st, mine) {
			if i+1 < len(files) {
				return files[i+1]
			}
			return nil
		}
	}
	return files[0]
}

// waitOpen opens path, waiting for it to appear.
func (r *reader) waitOpen() (*os.File, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		final := r.final()
		f, err := os.Open(r.path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("follow log: %w", err)
		}
		if final {
			return nil, errStop
		}
		if err := r.wait(tick); err != nil {
			return nil, err
		}
	}
}

// wait sleeps one poll interval; it ends following when ctx is done or
// Until has passed (no later entry can qualify).
func (r *reader) wait(tick *time.Ticker) error {
	if !r.opts.Until.IsZero() && time.Now().After(r.opts.Until) {
		return errStop
	}
	select {
	case <-r.ctx.Done():
		return errStop
	case <-tick.C:
		return nil
	case <-r.opts.Final:
		return nil // one last read to the end (see follow)
	}
}

// final reports whether the writer has finished.
func (r *reader) final() bool {
	select {
	case <-r.opts.Final:
		return true
	default:
		return false
	}
}
