package logs

import (
	"errors"
	"time"
)

// CRIWriter writes the Kubernetes container log format, one entry per
// line: "<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n", F for a
// complete line (its newline is the entry's end), P for a partial one.
// The kubelet reads and rotates these files itself: it renames the file
// and asks for a reopen, so the writer never rotates.
type CRIWriter struct {
	file
}

// NewCRIWriter opens (or creates) path for appending.
func NewCRIWriter(path string) (*CRIWriter, error) {
	w := &CRIWriter{file{path: path}}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// Write appends one entry; line ends in "\n" when it is complete.
func (w *CRIWriter) Write(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("log writer is closed")
	}
	w.buf = AppendCRIEntry(w.buf[:0], stream, line, t)
	return w.writeLocked()
}

// AppendCRIEntry formats one entry of the CRI log format.
func AppendCRIEntry(b []byte, stream string, line []byte, t time.Time) []byte {
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	if n := len(line); n > 0 && line[n-1] == '\n' {
		b = append(b, " F "...)
		b = append(b, line[:n-1]...)
	} else {
		b = append(b, " P "...)
		b = append(b, line...)
	}
	return append(b, '\n')
}

// Reopen closes the file and opens path again (a new file after the
// kubelet moved the old one away).
func (w *CRIWriter) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked()
	return w.open()
}
