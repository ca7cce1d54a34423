package layer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// slowWriter records what it is given, failing after limit bytes.
type slowWriter struct {
	got   bytes.Buffer
	limit int
	calls int
}

var errFull = errors.New("full")

func (w *slowWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.limit > 0 && w.got.Len()+len(p) > w.limit {
		return 0, errFull
	}
	return w.got.Write(p)
}

func TestAsyncWriter(t *testing.T) {
	data := make([]byte, 3<<20+123)
	rand.Read(data)

	// Writes of odd sizes, larger and smaller than the ring, arrive in
	// order and whole; the hash taken on the side is the stream's.
	w := &slowWriter{}
	h := sha256.New()
	a := NewAsyncWriter(io.MultiWriter(w, h), 0)
	for b, i := data, 0; len(b) > 0; i++ {
		k := min(len(b), 1+i*7919%(700<<10))
		if n, err := a.Write(b[:k]); n != k || err != nil {
			t.Fatalf("write %d: %d %v", k, n, err)
		}
		b = b[k:]
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.got.Bytes(), data) || !bytes.Equal(h.Sum(nil), sha256Of(data)) {
		t.Fatalf("got %d bytes of %d, or another hash", w.got.Len(), len(data))
	}
	if w.calls > len(data)/asyncBatch+8 {
		t.Errorf("%d writes for %d bytes: not batched", w.calls, len(data))
	}
	if _, err := a.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after close: %v", err)
	}

	// A short stream (below one batch) still reaches w at Close.
	w = &slowWriter{}
	a = NewAsyncWriter(w, 0)
	a.Write([]byte("short"))
	if err := a.Close(); err != nil || w.got.String() != "short" {
		t.Fatalf("short stream: %q %v", w.got.String(), err)
	}

	// w's error stops the writer (blocked or not) and comes back from Close.
	w = &slowWriter{limit: 1 << 20}
	a = NewAsyncWriter(w, 0)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = a.Write(data[:64<<10])
	}
	if !errors.Is(err, errFull) {
		t.Fatalf("write after w failed: %v", err)
	}
	if err := a.Close(); !errors.Is(err, errFull) {
		t.Fatalf("close after w failed: %v", err)
	}
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
