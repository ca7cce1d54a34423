package runtime

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSealedCopyOfCrun(t *testing.T) {
	path, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun not installed")
	}
	r := &Runtime{Name: "crun", Path: path, Root: t.TempDir()}
	if err := r.UseSealedCopy(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := r.SealedCopy()
	if f == nil {
		t.Fatal("no sealed copy")
	}
	defer f.Close()
	// Exactly the seals crun looks for, or it re-executes itself anyway.
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals != crunSeals {
		t.Fatalf("seals %#x, %v; want %#x", seals, err, crunSeals)
	}
	out, err := r.command(context.Background(), "--version").Output()
	if err != nil || !strings.Contains(string(out), "crun version") {
		t.Fatalf("running the copy: %q, %v", out, err)
	}
	if !strings.HasPrefix(r.bin(), "/proc/self/fd/") {
		t.Fatalf("bin() = %q", r.bin())
	}
}

func TestSealedCopyOnlyForCrun(t *testing.T) {
	r := &Runtime{Name: "runc", Path: "/usr/sbin/runc"}
	if err := r.UseSealedCopy(context.Background()); err != nil || r.SealedCopy() != nil {
		t.Fatalf("runc got a sealed copy (%v)", err)
	}
	if r.bin() != "/usr/sbin/runc" {
		t.Fatalf("bin() = %q", r.bin())
	}
}
