package swarm

import (
	"testing"
	"time"
)

// TestCRIReader: CRI log lines keep their stream, partial lines are
// joined with the rest of their stream's line, and a line cut between two
// reads of a followed file is finished by the next read.
func TestCRIReader(t *testing.T) {
	var r criReader
	got := r.parse([]byte("2026-12-07T10:00:00.000000001Z stdout F hello\n" +
		"2026-12-07T10:00:00.000000002Z stderr F oops\n" +
		"2026-12-07T10:00:00.000000003Z stdout P par\n" +
		"2026-12-07T10:00:00.000000004Z stderr F err2\n" +
		"2026-12-07T10:00:00.000000005Z stdout F tial\n" +
		"2026-12-07T10:00:00.000000006Z stdout F \n" +
		"2026-12-07T10:00:00.000000007Z stdout F cut "))
	got = append(got, r.parse([]byte("line\n"))...)
	want := []struct{ stream, line string }{{"stdout", "hello\n"}, {"stderr", "oops\n"}, {"stderr", "err2\n"}, {"stdout", "partial\n"}, {"stdout", "\n"}, {"stdout", "cut line\n"}}
	if len(got) != len(want) {
		t.Fatalf("got %d lines: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Stream != w.stream || string(got[i].Line) != w.line {
			t.Errorf("line %d: %s %q, want %s %q", i, got[i].Stream, got[i].Line, w.stream, w.line)
		}
	}
	if want := time.Date(2026, 12, 7, 10, 0, 0, 1, time.UTC); !got[0].Time.Equal(want) {
		t.Errorf("time %v, want %v", got[0].Time, want)
	}
}
