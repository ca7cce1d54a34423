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
// file and continues with the new one from its start.
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
		var err error
		pending, err = r.copyLines(br, pending)
		if err != io.EOF {
			return err
		}
		if rotated {
			// The old file was closed before the rename, so it is
			// complete: switch to the new one.
			nf, err := r.waitOpen()
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

// waitOpen opens path, waiting for it to appear.
func (r *reader) waitOpen() (*os.File, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		f, err := os.Open(r.path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("follow log: %w", err)
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
	}
}
