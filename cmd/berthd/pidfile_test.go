package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPidfileStaleAndLocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "berthd.pid")
	// A pid reused by another program does not block.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(strconv.Itoa(sleeper.Process.Pid)+"\n"), 0o644)
	l, err := acquirePidfile(p)
	if err != nil {
		t.Fatalf("stale pid file refused: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	// While held, a second acquire (another open file description) is refused.
	if _, err := acquirePidfile(p); err == nil || !strings.Contains(err.Error(), "pid file found") {
		t.Fatalf("second acquire: %v", err)
	}
	l.release()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("pid file left after release: %v", err)
	}
	l, err = acquirePidfile(p)
	if err != nil {
		t.Fatal(err)
	}
	l.release()
}

func TestIsLiveBerthd(t *testing.T) {
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if isLiveBerthd(sleeper.Process.Pid) {
		t.Fatal("sleep is not berthd")
	}
	if isLiveBerthd(1 << 30) {
		t.Fatal("a pid that does not exist")
	}
}
