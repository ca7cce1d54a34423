package daemon

import (
	"errors"
	"io"
	"sync"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/container"
)

// execStreams is what a streamed exec start hands the process, by
// dockerd's rules: the stream is framed unless the start request says
// Tty (docker-py's exec_start says tty=False by default even for a TTY
// exec, and gets frames from dockerd), the terminal is the create
// request's; a raw stream of a process without a terminal carries stdout
// only.
type execStreams struct {
	stdin          io.Reader // nil unless the exec attaches stdin
	stdout, stderr io.Writer // io.Discard where not attached
	// ended is closed when the client ends the stream while the process
	// may run on: it typed the detach keys, or closed its input of a TTY
	// exec (a terminal has no half-close; dockerd then ends the attach).
	ended chan struct{}
}

func openExecStreams(cfg *engine.StreamConfig, req *container.ExecCreateRequest, start *container.ExecStartRequest) (*execStreams, error) {
	multiplexed := !start.Tty
	sin, sout, serr, err := cfg.GetStreams(multiplexed)
	if err != nil {
		return nil, err
	}
	st := &execStreams{stdout: io.Discard, stderr: io.Discard, ended: make(chan struct{})}
	if req.AttachStdout {
		st.stdout = &streamWriter{w: sout}
	}
	if req.AttachStderr && (multiplexed || req.Tty) {
		st.stderr = &streamWriter{w: serr}
	}
	if req.AttachStdin && sin != nil {
		keys, _ := parseDetachKeys(req.DetachKeys)
		st.stdin = &stdinWatch{r: newDetachReader(sin, keys), tty: req.Tty, ended: st.ended}
	}
	return st, nil
}

// streamWriter passes output to the client until a write fails (the
// client went away or ended the stream); after that output is discarded,
// so the process never blocks on, or dies of, a stream nobody reads.
// Writes block while the client is slow: nothing is dropped before.
type streamWriter struct {
	mu   sync.Mutex
	w    io.Writer
	gone bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gone {
		if _, err := s.w.Write(p); err != nil {
			s.gone = true
		}
	}
	return len(p), nil
}

// stdinWatch closes ended when the client's input ends the stream.
type stdinWatch struct {
	r     io.Reader
	tty   bool
	once  sync.Once
	ended chan struct{}
}

func (w *stdinWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if errors.Is(err, errDetached) || (w.tty && err != nil) {
		w.once.Do(func() { close(w.ended) })
	}
	return n, err
}
