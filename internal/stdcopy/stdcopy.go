// Package stdcopy writes Docker's multiplexed stream format: each chunk of
// output is an 8-byte header [stream, 0, 0, 0, big-endian uint32 length]
// followed by the payload. Clients use it on attach, exec and logs when the
// container has no TTY, to tell stdout from stderr on one connection.
package stdcopy

import (
	"encoding/binary"
	"io"
	"sync"
)

// StdType is the first byte of a frame header.
type StdType byte

// Stream identifiers, as docker's stdcopy reader expects them.
const (
	Stdin     StdType = 0
	Stdout    StdType = 1
	Stderr    StdType = 2
	Systemerr StdType = 3
)

const headerLen = 8

// Shared is a destination that several frame writers use together. Its
// mutex makes a whole frame one atomic step, so stdout and stderr frames
// written from different goroutines never interleave on the wire.
type Shared struct {
	mu sync.Mutex
	w  io.Writer
}

// NewShared wraps w for use by several NewWriter writers.
func NewShared(w io.Writer) *Shared { return &Shared{w: w} }

// Write passes p through unframed under the shared mutex (raw TTY output or
// an error line that must not land inside a frame).
func (s *Shared) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type frameWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream StdType
	buf    []byte
}

// NewWriter returns a writer that frames every Write as one stream frame.
// Pass a *Shared as w when another writer targets the same destination;
// otherwise the writer only serializes its own Writes.
func NewWriter(w io.Writer, stream StdType) io.Writer {
	fw := &frameWriter{w: w, stream: stream}
	if s, ok := w.(*Shared); ok {
		fw.mu, fw.w = &s.mu, s.w
	} else {
		fw.mu = new(sync.Mutex)
	}
	return fw
}

// NewStreams returns stdout and stderr writers that share one mutex on w.
func NewStreams(w io.Writer) (stdout, stderr io.Writer) {
	s := NewShared(w)
	return NewWriter(s, Stdout), NewWriter(s, Stderr)
}

// Write sends p as a single frame. Header and payload go out in one Write on
// the destination so a concurrent writer without the shared mutex (e.g. a
// net.Conn used directly) still cannot split them. It reports len(p) on
// success, never counting the header.
func (fw *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	need := headerLen + len(p)
	if cap(fw.buf) < need {
		fw.buf = make([]byte, need)
	}
	buf := fw.buf[:need]
	buf[0] = byte(fw.stream)
	buf[1], buf[2], buf[3] = 0, 0, 0
	binary.BigEndian.PutUint32(buf[4:headerLen], uint32(len(p)))
	copy(buf[headerLen:], p)
	n, err := fw.w.Write(buf)
	// A short frame leaves the stream unusable, so report it as no progress
	// on the payload rather than a misleading partial count.
	if err != nil {
		n -= headerLen
		if n < 0 {
			n = 0
		}
		return n, err
	}
	if n != need {
		return 0, io.ErrShortWrite
	}
	// Keep big one-off buffers from being held for the stream's lifetime.
	if cap(fw.buf) > 64<<10 {
		fw.buf = nil
	}
	return len(p), nil
}
