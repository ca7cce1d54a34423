package layer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func TestBufPipe(t *testing.T) {
	data := make([]byte, 1<<20+17)
	rand.Read(data)
	pr, pw := newBufPipe(4096)
	go func() {
		// Writes of odd sizes, larger and smaller than the buffer.
		for b, i := data, 0; len(b) > 0; i++ {
			k := min(len(b), 1+i*977%9000)
			if _, err := pw.Write(b[:k]); err != nil {
				t.Error(err)
				return
			}
			b = b[k:]
		}
		pw.CloseWithError(nil)
	}()
	var got bytes.Buffer
	buf := make([]byte, 3000)
	for {
		n, err := pr.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("bytes differ")
	}

	// The writer's error reaches the reader after the buffered bytes; the
	// reader's close stops a blocked writer.
	pr, pw = newBufPipe(8)
	pw.Write([]byte("abc"))
	boom := errors.New("boom")
	pw.CloseWithError(boom)
	if b, err := io.ReadAll(pr); string(b) != "abc" || !errors.Is(err, boom) {
		t.Fatalf("read %q %v", b, err)
	}
	pr, pw = newBufPipe(8)
	done := make(chan error)
	go func() { _, err := pw.Write(make([]byte, 100)); done <- err }()
	pr.CloseWithError(nil)
	if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("blocked writer got %v", err)
	}
}
