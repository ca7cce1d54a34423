package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Entry is one decoded log record.
type Entry struct {
	Stream string
	Line   []byte
	Time   time.Time
}

// ReadOptions selects entries. Tail counts from the end across rotated
// files (-1 = all); it is applied before Since/Until, as dockerd does.
type ReadOptions struct {
	Tail         int
	Since, Until time.Time
	Follow       bool
	// CRI reads the Kubernetes log format (see CRIWriter) instead of json-file.
	CRI bool
	// Final, when closed, says the writer has finished (the container
	// exited and its monitor closed the log): a follower then reads what
	// is left, however long its reader takes, and ends.
	Final <-chan struct{}
}

// pollInterval is how often a follower looks for new data or a rotation.
const pollInterval = 20 * time.Millisecond

// Read streams the entries of path and its rotated predecessors, oldest
// first. With Follow it keeps streaming new entries, across rotations,
// until ctx is cancelled, Until has passed or, after Final, the end. Both
// channels close at the end; errc carries at most one error.
func Read(ctx context.Context, path string, opts ReadOptions) (<-chan Entry, <-chan error) {
	out := make(chan Entry, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(out)
		r := &reader{ctx: ctx, path: path, opts: opts, out: out}
		if err := r.run(); err != nil && !errors.Is(err, errStop) && ctx.Err() == nil {
			errc <- err
		}
	}()
	return out, errc
}

// errStop ends reading early without being an error (ctx done, Until hit).
var errStop = errors.New("stop")

type reader struct {
	ctx  context.Context
	path string
	opts ReadOptions
	out  chan<- Entry
	raw  struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
}

func (r *reader) run() error {
	files, err := openAll(r.path)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	offsets := make([]int64, len(files))
	if r.opts.Tail >= 0 {
		left := r.opts.Tail
		for i := len(files) - 1; i >= 0; i-- {
			off, n, err := tailStart(files[i], left)
			if err != nil {
				return err
			}
			offsets[i] = off
			left -= n
			for j := i - 1; left <= 0 && j >= 0; j-- {
				offsets[j] = -1 // nothing wanted from older files
			}
			if left <= 0 {
				break
			}
		}
	}
	for i, f := range files {
		if offsets[i] < 0 {
			continue
		}
		if _, err := f.Seek(offsets[i], io.SeekStart); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		if i == len(files)-1 && r.opts.Follow {
			return r.follow(f)
		}
		if _, err := r.copyLines(bufio.NewReader(f), nil); err != nil && err != io.EOF {
			return err
		}
	}
	if r.opts.Follow && len(files) == 0 {
		f, err := r.waitOpen()
		if err != nil {
			return err
		}
		defer f.Close()
		return r.follow(f)
	}
	return nil
}

// openAll opens path.N ... path.1, path (those that exist), oldest first.
// Opening them all before reading pins their contents against rotation.
func openAll(path string) ([]*os.File, error) {
	n := 0
	for {
		if _, err := os.Stat(path + "." + strconv.Itoa(n+1)); err != nil {
			break
		}
		n++
	}
	var files []*os.File
	for i := n; i >= 0; i-- {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return files, fmt.Errorf("open log: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

// copyLines decodes complete lines from br and sends them. It returns the
// unterminated tail it saw at EOF (a write in progress) with io.EOF.
func (r *reader) copyLines(br *bufio.Reader, pending []byte) ([]byte, error) {
	for {
		line, err := br.ReadBytes('\n')
		pending = append(pending, line...)
		if err != nil {
			return pending, err
		}
		if err := r.emit(pending); err != nil {
			return nil, err
		}
		pending = pending[:0]
	}
}

func (r *reader) emit(line []byte) error {
	r.raw.Log, r.raw.Stream, r.raw.Time = "", "", time.Time{}
	if r.opts.CRI {
		if err := r.decodeCRI(line); err != nil {
			return err
		}
	} else if err := json.Unmarshal(line, &r.raw); err != nil {
		return fmt.Errorf("decode log entry: %w", err)
	}
	if !r.opts.Until.IsZero() && r.raw.Time.After(r.opts.Until) {
		return errStop
	}
	if !r.opts.Since.IsZero() && r.raw.Time.Before(r.opts.Since) {
		return nil
	}
	e := Entry{Stream: r.raw.Stream, Line: []byte(r.raw.Log), Time: r.raw.Time}
	select {
	case r.out <- e:
		return nil
	case <-r.ctx.Done():
		return errStop
	}
}

// decodeCRI parses "<time> <stream> <F|P> <content>" into r.raw; a full
// line (F) gets its newline back.
func (r *reader) decodeCRI(line []byte) error {
	s := strings.TrimSuffix(string(line), "\n")
	f := strings.SplitN(s, " ", 4)
	if len(f) < 3 {
		return fmt.Errorf("decode log entry: %q is not in the CRI log format", s)
	}
	t, err := time.Parse(time.RFC3339Nano, f[0])
	if err != nil {
		return fmt.Errorf("decode log entry: %w", err)
	}
	r.raw.Time, r.raw.Stream = t, f[1]
	if len(f) == 4 {
		r.raw.Log = f[3]
	}
	if f[2] == "F" {
		r.raw.Log += "\n"
	}
	return nil
}
