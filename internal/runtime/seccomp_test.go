package runtime

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func seccompSpec(names ...string) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}}}
}

func TestSeccompMemoLearnsAndServes(t *testing.T) {
	r := &Runtime{Name: "crun", Root: t.TempDir()}
	s := seccompSpec("read", "write")
	key := r.PrecompileSeccomp(s)
	if key == "" {
		t.Fatal("no key for a plain profile")
	}
	if _, ok := s.Annotations[seccompBPFAnnotation]; ok {
		t.Fatal("annotated before anything was learned")
	}
	prog := []byte("01234567abcdefgh") // two 8-byte instructions
	if err := os.MkdirAll(filepath.Join(r.Root, "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Root, "c1", "seccomp.bpf"), prog, 0o600); err != nil {
		t.Fatal(err)
	}
	r.LearnSeccomp(key, "c1")

	s2 := seccompSpec("read", "write")
	if got := r.PrecompileSeccomp(s2); got != key {
		t.Fatalf("same profile, different key: %s vs %s", got, key)
	}
	if got := s2.Annotations[seccompBPFAnnotation]; got != base64.StdEncoding.EncodeToString(prog) {
		t.Fatalf("annotation = %q", got)
	}
	other := seccompSpec("read")
	if r.PrecompileSeccomp(other); other.Annotations[seccompBPFAnnotation] != "" {
		t.Fatal("another profile got the learned filter")
	}
}

func TestSeccompMemoRefuses(t *testing.T) {
	r := &Runtime{Name: "runc", Root: t.TempDir()}
	if key := r.PrecompileSeccomp(&specs.Spec{Linux: &specs.Linux{}}); key != "" {
		t.Fatal("key without a profile")
	}
	notify := seccompSpec("read")
	notify.Linux.Seccomp.Syscalls[0].Action = specs.ActNotify
	if key := r.PrecompileSeccomp(notify); key != "" {
		t.Fatal("notify profiles need the runtime's own listener setup")
	}
	s := seccompSpec("read")
	key := r.PrecompileSeccomp(s)
	// runc leaves no compiled filter; a torn or foreign file is ignored.
	r.LearnSeccomp(key, "missing")
	os.MkdirAll(filepath.Join(r.Root, "torn"), 0o700)
	os.WriteFile(filepath.Join(r.Root, "torn", "seccomp.bpf"), []byte("12345"), 0o600)
	r.LearnSeccomp(key, "torn")
	s2 := seccompSpec("read")
	if r.PrecompileSeccomp(s2); s2.Annotations[seccompBPFAnnotation] != "" {
		t.Fatal("served a filter that was never learned")
	}
}
