// Package jsonstream writes the JSON-lines progress streams of the Engine API
// (pull, push, import, load, build): one object per line, terminated by
// "\r\n" like dockerd's stream formatter, flushed after each line so clients
// render progress as it happens. Field names and order follow Docker's
// jsonmessage, which the docker CLI and docker-py decode.
package jsonstream

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
)

// ProgressDetail is a message's machine-readable progress.
type ProgressDetail struct {
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Units   string `json:"units,omitempty"`
}

// ErrorDetail carries an error that happened after the 200 was sent.
type ErrorDetail struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Message is one line of a stream.
type Message struct {
	Stream          string           `json:"stream,omitempty"`
	Status          string           `json:"status,omitempty"`
	Progress        *ProgressDetail  `json:"progressDetail,omitempty"`
	ProgressMessage string           `json:"progress,omitempty"`
	ID              string           `json:"id,omitempty"`
	Error           *ErrorDetail     `json:"errorDetail,omitempty"`
	ErrorMessage    string           `json:"error,omitempty"`
	Aux             *json.RawMessage `json:"aux,omitempty"`
}

// Newline ends every message, as in dockerd's output.
const Newline = "\r\n"

// Writer emits messages to an HTTP response (or any writer) and flushes each.
// It is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w. If w is an http.Flusher (or has a
// Flush() error method) every message is flushed.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write passes already-encoded lines (from a backend that formats its own
// messages) through, then flushes.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.w.Write(p)
	if err == nil {
		w.flush()
	}
	return n, err
}

// WriteMessage encodes m as one line.
func (w *Writer) WriteMessage(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, Newline...))
	return err
}

// Status writes {"status":status,"id":id}; id may be empty.
func (w *Writer) Status(id, status string) error {
	return w.WriteMessage(Message{ID: id, Status: status})
}

// Stream writes {"stream":s}, the build and load output form.
func (w *Writer) Stream(s string) error { return w.WriteMessage(Message{Stream: s}) }

// Progress writes a layer's progress with Docker's "progressDetail" object;
// bar is the human-readable "progress" text and may be empty.
func (w *Writer) Progress(id, status string, current, total int64, bar string) error {
	return w.WriteMessage(Message{ID: id, Status: status, Progress: &ProgressDetail{Current: current, Total: total}, ProgressMessage: bar})
}

// Aux writes {"progressDetail":{},"aux":v}, the way push reports its digest.
func (w *Writer) Aux(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw := json.RawMessage(b)
	return w.WriteMessage(Message{Progress: &ProgressDetail{}, Aux: &raw})
}

// Error writes {"errorDetail":{"message":...},"error":...}: once the stream has
// started the HTTP status is already 200, so this is how clients learn of it.
func (w *Writer) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	return w.WriteMessage(Message{Error: &ErrorDetail{Message: msg}, ErrorMessage: msg})
}

func (w *Writer) flush() {
	switch f := w.w.(type) {
	case http.Flusher:
		f.Flush()
	case interface{ Flush() error }:
		_ = f.Flush()
	}
}

// Decode reads messages from r until EOF, calling fn for each. It returns the
// first stream error (errorDetail) as an error, for clients and tests.
func Decode(r io.Reader, fn func(Message) error) error {
	dec := json.NewDecoder(r)
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != nil && m.Error.Message != "" {
			return errors.New(m.Error.Message)
		}
		if m.ErrorMessage != "" {
			return errors.New(m.ErrorMessage)
		}
		if fn != nil {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}
