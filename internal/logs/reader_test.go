package logs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, path string, opts ReadOptions) []Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch, errc := Read(ctx, path, opts)
	var out []Entry
	for e := range ch {
		out = append(out, e)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return out
}

func lineText(i int) string { return fmt.Sprintf("line %03d\n", i) }

// writeLines writes n entries one millisecond apart starting at base,
// rotating at maxSize with maxFiles files.
func writeLines(t *testing.T, path string, n int, maxSize int64, maxFiles int, base time.Time) {
	t.Helper()
	w, err := NewWriter(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < n; i++ {
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		if err := w.Write(stream, []byte(lineText(i)), base.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadAllAcrossRotatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	// Each entry is ~85 bytes: 1000 bytes hold 11, so 3 files keep 33.
	writeLines(t, path, 50, 1000, 3, time.Now())
	got := collect(t, path, ReadOptions{Tail: -1})
	if len(got) < 23 || len(got) >= 50 {
		t.Fatalf("read %d entries from 3 rotated files", len(got))
	}
	first := 50 - len(got)
	for i, e := range got {
		if string(e.Line) != lineText(first+i) {
			t.Fatalf("entry %d = %q, want %q (order across files)", i, e.Line, lineText(first+i))
		}
	}
	if got[0].Stream != []string{"stdout", "stderr"}[first%2] {
		t.Fatalf("stream %q", got[0].Stream)
	}
}

func TestReadTailAcrossFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeLines(t, path, 50, 1000, 3, time.Now())
	for _, n := range []int{0, 1, 5, 15, 25} {
		got := collect(t, path, ReadOptions{Tail: n})
		if len(got) != n {
			t.Fatalf("tail %d: got %d entries", n, len(got))
		}
		for i, e := range got {
			if want := lineText(50 - n + i); string(e.Line) != want {
				t.Fatalf("tail %d entry %d = %q want %q", n, i, e.Line, want)
			}
		}
	}
	all := collect(t, path, ReadOptions{Tail: -1})
	if got := collect(t, path, ReadOptions{Tail: 1000}); len(got) != len(all) {
		t.Fatalf("tail larger than the log: %d vs %d", len(got), len(all))
	}
}

func TestReadSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	writeLines(t, path, 20, 0, 1, base)
	got := collect(t, path, ReadOptions{Tail: -1, Since: base.Add(5 * time.Millisecond), Until: base.Add(9 * time.Millisecond)})
	if len(got) != 5 || string(got[0].Line) != lineText(5) || string(got[4].Line) != lineText(9) {
		t.Fatalf("since/until: %d entries %v", len(got), got)
	}
	if !got[0].Time.Equal(base.Add(5 * time.Millisecond)) {
		t.Fatalf("time %v", got[0].Time)
	}
	// Tail is taken first, then since filters within it (dockerd's order).
	got = collect(t, path, ReadOptions{Tail: 3, Since: base.Add(18 * time.Millisecond)})
	if len(got) != 2 {
		t.Fatalf("tail 3 since 18ms: %d entries", len(got))
	}
}

func TestReadFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	w.Write("stdout", []byte("before\n"), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, errc := Read(ctx, path, ReadOptions{Tail: -1, Follow: true})
	next := func() Entry {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed early: %v", <-errc)
			}
			return e
		case <-time.After(3 * time.Second):
			t.Fatal("timed out waiting for a followed entry")
		}
		return Entry{}
	}
	if e := next(); string(e.Line) != "before\n" {
		t.Fatalf("first %q", e.Line)
	}
	// 40 entries of ~85 bytes rotate the 1000-byte file three times; a
	// follower must see every one in order, none lost at the renames.
	for i := 0; i < 40; i++ {
		if err := w.Write("stdout", []byte(lineText(i)), time.Now()); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			time.Sleep(3 * pollInterval)
		}
	}
	for i := 0; i < 40; i++ {
		if e := next(); string(e.Line) != lineText(i) {
			t.Fatalf("followed entry %d = %q", i, e.Line)
		}
	}
	cancel()
	for range ch {
	}
	if err := <-errc; err != nil {
		t.Fatalf("error after cancel: %v", err)
	}
}

func TestReadFollowWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ch, _ := Read(ctx, path, ReadOptions{Tail: -1, Follow: true})
	time.Sleep(2 * pollInterval)
	writeLines(t, path, 2, 0, 1, time.Now())
	for i := 0; i < 2; i++ {
		if e := <-ch; string(e.Line) != lineText(i) {
			t.Fatalf("entry %d = %q", i, e.Line)
		}
	}
}

func TestReadMissingFileIsEmpty(t *testing.T) {
	if got := collect(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

func TestReadRoundTripsEscapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	in := []byte("\x1b[31mred\x1b[0m \"q\" \\ <&> \t\r\x00 \xff\xfe ok é\n")
	if err := w.Write("stderr", in, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := collect(t, path, ReadOptions{Tail: -1})
	// Invalid UTF-8 comes back as U+FFFD, exactly as encoding/json would.
	want := strings.ToValidUTF8(string(in), "\ufffd\ufffd")
	if len(got) != 1 || string(got[0].Line) != want || got[0].Stream != "stderr" {
		t.Fatalf("got %q want %q", got, want)
	}
}

// A follower that falls behind by several rotations still reads every
// file the writer kept, in order, and with Final closed it reads to the
// end and stops by itself.
func TestReadFollowSlowReaderAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	w.Write("stdout", []byte("before\n"), time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	final := make(chan struct{})
	ch, errc := Read(ctx, path, ReadOptions{Tail: -1, Follow: true, Final: final})
	if e := <-ch; string(e.Line) != "before\n" {
		t.Fatalf("first %q", e.Line)
	}
	// Nobody reads while 150 entries (~13 rotations of 11 entries) are
	// written: the reader stalls on its channel with the first file open.
	const n = 150
	for i := 0; i < n; i++ {
		if err := w.Write("stdout", []byte(lineText(i)), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	close(final)
	i := 0
	for e := range ch {
		if i >= n || string(e.Line) != lineText(i) {
			t.Fatalf("followed entry %d = %q", i, e.Line)
		}
		i++
	}
	if i != n {
		t.Fatalf("follower ended after %d of %d entries", i, n)
	}
	if err := <-errc; err != nil {
		t.Fatalf("error: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("follower ended by the timeout, not by Final")
	}
}
