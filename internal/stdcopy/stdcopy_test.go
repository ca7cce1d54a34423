package stdcopy

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	mobystdcopy "github.com/moby/moby/api/pkg/stdcopy"
)

func TestFrameBytes(t *testing.T) {
	var buf bytes.Buffer
	out, errw := NewStreams(&buf)
	if n, err := out.Write([]byte("hello\n")); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := errw.Write([]byte("err\n")); err != nil {
		t.Fatal(err)
	}
	want := "\x01\x00\x00\x00\x00\x00\x00\x06hello\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	if n, err := out.Write(nil); n != 0 || err != nil || buf.Len() != len(want) {
		t.Fatalf("empty write produced a frame: %d %v %d", n, err, buf.Len())
	}
}

// TestConcurrentDemux checks that frames from two goroutines never
// interleave, by demultiplexing them with moby's own reader.
func TestConcurrentDemux(t *testing.T) {
	var buf bytes.Buffer
	out, errw := NewStreams(&buf)
	var wg sync.WaitGroup
	for i, w := range []io.Writer{out, errw} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 500 {
				fmt.Fprintf(w, "w%d line %d\n", i, j)
			}
		}()
	}
	wg.Wait()
	var so, se bytes.Buffer
	if _, err := mobystdcopy.StdCopy(&so, &se, &buf); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(so.Bytes(), []byte("w0 line")); got != 500 {
		t.Fatalf("stdout lines = %d", got)
	}
	if got := bytes.Count(se.Bytes(), []byte("w1 line")); got != 500 {
		t.Fatalf("stderr lines = %d", got)
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 3, io.ErrClosedPipe }

func TestWriteError(t *testing.T) {
	w := NewWriter(failWriter{}, Stdout)
	n, err := w.Write([]byte("abc"))
	if err != io.ErrClosedPipe || n != 0 {
		t.Fatalf("Write = %d, %v", n, err)
	}
}
