package layer

import (
	"io"
	"sync"
)

// bufPipe is io.Pipe with a buffer between the ends: the writer waits
// only when the buffer is full and the reader only when it is empty.
// io.Pipe hands every write over to the reader and waits for it, which is
// a pair of goroutine switches per 32 KB; on a busy machine each switch
// waits for a CPU, and unpacking a layer through such a pipe took four
// times its CPU time in wall time.
type bufPipe struct {
	mu       sync.Mutex
	readable sync.Cond
	writable sync.Cond
	buf      []byte
	r, n     int   // start and length of the buffered bytes in buf (a ring)
	werr     error // the writer closed: io.EOF or its error
	rerr     error // the reader closed
}

func newBufPipe(size int) (*bufPipeReader, *bufPipeWriter) {
	p := &bufPipe{buf: make([]byte, size)}
	p.readable.L, p.writable.L = &p.mu, &p.mu
	return &bufPipeReader{p}, &bufPipeWriter{p}
}

type bufPipeReader struct{ p *bufPipe }
type bufPipeWriter struct{ p *bufPipe }

func (r *bufPipeReader) Read(b []byte) (int, error) {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 {
		if p.rerr != nil {
			return 0, io.ErrClosedPipe
		}
		if p.werr != nil {
			return 0, p.werr
		}
		p.readable.Wait()
	}
	total := 0
	for len(b) > 0 && p.n > 0 {
		end := min(p.r+p.n, len(p.buf))
		k := copy(b, p.buf[p.r:end])
		b = b[k:]
		p.r = (p.r + k) % len(p.buf)
		p.n -= k
		total += k
	}
	p.writable.Signal()
	return total, nil
}

// CloseWithError makes later writes fail with io.ErrClosedPipe.
func (r *bufPipeReader) CloseWithError(err error) {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		err = io.ErrClosedPipe
	}
	p.rerr = err
	p.writable.Broadcast()
	p.readable.Broadcast()
}

func (w *bufPipeWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for len(b) > 0 {
		for p.n == len(p.buf) && p.rerr == nil {
			p.writable.Wait()
		}
		if p.rerr != nil {
			return total, io.ErrClosedPipe
		}
		if p.werr != nil {
			return total, io.ErrClosedPipe
		}
		start := (p.r + p.n) % len(p.buf)
		end := len(p.buf)
		if start < p.r {
			end = p.r
		}
		k := copy(p.buf[start:end], b)
		p.n += k
		b = b[k:]
		total += k
		p.readable.Signal()
	}
	return total, nil
}

// CloseWithError ends the stream: the reader gets the buffered bytes,
// then err (io.EOF when nil).
func (w *bufPipeWriter) CloseWithError(err error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		err = io.EOF
	}
	if p.werr == nil {
		p.werr = err
	}
	p.readable.Broadcast()
}
