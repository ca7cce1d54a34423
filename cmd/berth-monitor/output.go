package main

import (
	"bytes"
	"os"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
)

// maxPartial is where a line without "\n" is flushed to the log as a
// partial entry, like Docker's 16 KiB log buffer.
const maxPartial = 16 << 10

// minChunk and maxChunk bound what one read of a container's output takes.
const minChunk, maxChunk = 2 << 10, 32 << 10

// pump copies one output stream to the log, then to every attached client,
// until EOF or until the drain budget after the container's exit is spent.
// A client write blocks until the client has taken the chunk, so a slow
// client slows the container down through the full pipe instead of losing
// output (Docker's attach does the same); the log is written first and
// always gets everything. One buffer per stream, no queue per client.
func (m *monitor) pump(o output) {
	// Frames are built in place: the chunk is read behind the header.
	// A quiet container keeps a small buffer; the first read that fills
	// it gets the full size (memory here is per container).
	buf := make([]byte, frameHeader+minChunk)
	var line []byte
	var to []*client
	name := "stdout"
	if o.stream == proto.Stderr {
		name = "stderr"
	}
	var waited time.Duration
	for {
		draining := m.isDraining()
		var t0 time.Time
		if draining {
			if waited >= drainDeadline {
				break
			}
			t0 = time.Now()
			o.r.SetReadDeadline(t0.Add(drainDeadline - waited))
		}
		n, err := o.r.Read(buf[frameHeader:])
		if draining {
			waited += time.Since(t0)
		}
		if n > 0 {
			data := buf[frameHeader : frameHeader+n]
			if m.log != nil {
				line = m.logLines(name, line, data, time.Now())
			}
			to = m.broadcast(o.stream, buf[:frameHeader+n], to)
			if n == len(buf)-frameHeader && n < maxChunk {
				buf = make([]byte, frameHeader+maxChunk)
			}
		}
		if err != nil {
			break
		}
	}
	if len(line) > 0 && m.log != nil {
		m.log.Write(name, line, time.Now())
	}
}

// logLines writes every complete line of pending+data and returns the
// unfinished rest, flushing it once it reaches maxPartial.
func (m *monitor) logLines(stream string, pending, data []byte, t time.Time) []byte {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			pending = append(pending, data...)
			break
		}
		if len(pending) > 0 {
			pending = append(pending, data[:i+1]...)
			m.log.Write(stream, pending, t)
			pending = pending[:0]
		} else {
			m.log.Write(stream, data[:i+1], t)
		}
		data = data[i+1:]
	}
	for len(pending) >= maxPartial {
		m.log.Write(stream, pending[:maxPartial], t)
		pending = append(pending[:0], pending[maxPartial:]...)
	}
	if cap(pending) > 2*maxPartial && len(pending) == 0 {
		pending = nil // give a burst's buffer back
	}
	return pending
}

// drainDeadline is how long the pumps still wait for output after the
// init exited: daemonized grandchildren (a container in the host's pid
// namespace) may hold the pipes open forever. Only time spent waiting for
// data counts, never time spent handing it to slow clients, so output
// already written is always delivered.
const drainDeadline = time.Second

// startDraining wakes a pump that waits for data when the init has exited
// (m.dead is set): it then goes on within its drain budget.
func (m *monitor) startDraining() {
	t := time.Now().Add(drainDeadline)
	for _, o := range m.outputs {
		if err := o.r.SetReadDeadline(t); err != nil {
			// Not pollable: closing is the only way to end the read.
			go func(f *os.File) { time.Sleep(drainDeadline); f.Close() }(o.r)
		}
	}
}

func (m *monitor) isDraining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}
