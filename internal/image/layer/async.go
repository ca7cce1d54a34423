package layer

import (
	"io"
	"sync"
)

// AsyncWriter passes what is written to it on to w from a goroutine of
// its own, through a ring buffer: a pull or a load hashes every byte of a
// layer (SHA-256 of the compressed blob, and of the tar for its diff ID),
// and hashing on the goroutine that reads, decompresses and records the
// layer made that goroutine the slowest stage of the stream, leaving the
// second core idle whenever one layer streamed alone (a load's layers, the
// last of a pull's). w sees the bytes in order; Close waits until it has
// seen them all. Each byte is copied once, into the ring: w reads it there.
type AsyncWriter struct {
	w    io.Writer
	mu   sync.Mutex
	data sync.Cond // a batch is ready, or the writer closed
	room sync.Cond // w took a batch
	buf  []byte
	r, n int   // start and length of the bytes w has not taken (a ring)
	err  error // w's error
	shut bool  // Close was called
	done chan struct{}
}

// asyncBatch is how much w is given at a time (unless the stream ends):
// waking its goroutine for every 32 KB write cost more than the copy.
const asyncBatch = 256 << 10

// NewAsyncWriter starts passing writes on to w with a ring of size bytes
// (at least twice asyncBatch). The caller must Close it.
func NewAsyncWriter(w io.Writer, size int) *AsyncWriter {
	size = max(size, 2*asyncBatch)
	a := &AsyncWriter{w: w, buf: make([]byte, size), done: make(chan struct{})}
	a.data.L, a.room.L = &a.mu, &a.mu
	go a.run()
	return a
}

func (a *AsyncWriter) run() {
	defer close(a.done)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		for a.n < asyncBatch && !a.shut && a.err == nil {
			a.data.Wait()
		}
		if a.err != nil || a.n == 0 && a.shut {
			return
		}
		// The bytes from r to the ring's end or to r+n are w's alone
		// until r moves: the writer fills only the free part.
		end := min(a.r+a.n, len(a.buf))
		chunk := a.buf[a.r:end]
		a.mu.Unlock()
		_, err := a.w.Write(chunk)
		a.mu.Lock()
		a.r = (a.r + len(chunk)) % len(a.buf)
		a.n -= len(chunk)
		if err != nil {
			a.err = err
		}
		a.room.Signal()
	}
}

// Write copies p into the ring, waiting for room. It fails once w has
// failed, with w's error.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	total := 0
	for len(p) > 0 {
		for a.n == len(a.buf) && a.err == nil {
			a.room.Wait()
		}
		if a.err != nil {
			return total, a.err
		}
		if a.shut {
			return total, io.ErrClosedPipe
		}
		start := (a.r + a.n) % len(a.buf)
		end := len(a.buf)
		if start < a.r {
			end = a.r
		}
		k := copy(a.buf[start:end], p)
		a.n += k
		p = p[k:]
		total += k
		if a.n >= asyncBatch {
			a.data.Signal()
		}
	}
	return total, nil
}

// Close waits until w has been given everything written, and returns
// w's error, if any. Later writes fail.
func (a *AsyncWriter) Close() error {
	a.mu.Lock()
	a.shut = true
	a.data.Signal()
	a.mu.Unlock()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
