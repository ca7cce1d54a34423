package logs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCRIWriterFormatAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	w, err := NewCRIWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC)
	w.Write("stdout", []byte("hello\n"), ts)
	w.Write("stderr", []byte("part"), ts)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write("stdout", []byte("after\n"), ts)
	w.Close()
	old, _ := os.ReadFile(path + ".1")
	want := "2026-12-07T10:00:00.123456789Z stdout F hello\n2026-12-07T10:00:00.123456789Z stderr P part\n"
	if string(old) != want {
		t.Fatalf("rotated file:\n%q\nwant\n%q", old, want)
	}
	cur, _ := os.ReadFile(path)
	if string(cur) != "2026-12-07T10:00:00.123456789Z stdout F after\n" {
		t.Fatalf("reopened file: %q", cur)
	}
}

func TestReadCRIFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewCRIWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w.Write("stdout", []byte("one\n"), ts)
	w.Write("stderr", []byte("two-part"), ts.Add(time.Second))
	w.Write("stdout", []byte("three\n"), ts.Add(2*time.Second))
	w.Close()
	entries, errc := Read(context.Background(), path, ReadOptions{Tail: 2, CRI: true})
	var got []string
	for e := range entries {
		got = append(got, e.Stream+":"+string(e.Line))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "stderr:two-part|stdout:three\n" {
		t.Fatalf("entries = %q", got)
	}
}
