package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/daemonconfig"
)

// Under umask 0 the socket must never be seen with a mode that lets
// others connect, not even between bind and chmod.
func TestListenUnixNeverWorldWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "berth.sock")
	var bad atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Every socket anywhere under dir counts, the private one included.
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type()&os.ModeSocket != 0 {
					if fi, err := os.Lstat(p); err == nil && fi.Mode().Perm()&0o007 != 0 {
						if _, err := os.Stat(filepath.Dir(p)); err == nil && (filepath.Dir(p) == dir || dirOpenToOthers(filepath.Dir(p))) {
							bad.Add(1)
						}
					}
				}
				return nil
			})
		}
	}()
	cfg := &daemonconfig.Config{Group: "root"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < 300; i++ {
		l, err := listenUnix(path, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	close(stop)
	<-done
	if n := bad.Load(); n > 0 {
		t.Fatalf("a socket reachable by others was seen %d times", n)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("final socket: %v %v", fi, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".berth-sock-*"))
	if len(left) > 0 {
		t.Fatalf("private dirs left: %v", left)
	}
}

func dirOpenToOthers(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.Mode().Perm()&0o001 != 0
}
