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

// pump copies one output stream to the log and to attached clients until
// EOF or the read deadline set after the container's exit.
func (m *monitor) pump(o output) {
	buf := make([]byte, 32<<10)
	var line []byte
	name := "stdout"
	if o.stream == proto.Stderr {
		name = "stderr"
	}
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			m.broadcast(o.stream, buf[:n])
			if m.log != nil {
				line = m.logLines(name, line, buf[:n], time.Now())
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

// drainDeadline is how long output is still read after the init exited:
// daemonized grandchildren may hold the pipes open forever.
const drainDeadline = time.Second

func setDrainDeadline(files []output) {
	t := time.Now().Add(drainDeadline)
	for _, o := range files {
		if err := o.r.SetReadDeadline(t); err != nil {
			// Not pollable: closing is the only way to end the read.
			go func(f *os.File) { time.Sleep(drainDeadline); f.Close() }(o.r)
		}
	}
}
