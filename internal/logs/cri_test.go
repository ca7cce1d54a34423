package logs

import (
	"os"
	"path/filepath"
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
