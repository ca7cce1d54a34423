package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompBPFAnnotation hands crun a filter that is already compiled: crun
// then loads it as is instead of building it from the spec's rules.
const seccompBPFAnnotation = "run.oci.seccomp_bpf_data"

// seccompMemo remembers, per seccomp profile, the BPF program the runtime
// compiled for it. Compiling Docker's default profile (some 400 rules, three
// architectures) with libseccomp is 12–20 ms of every crun create here, and
// Debian's crun is built without its own on-disk cache. crun leaves the
// program it loaded in its state directory, so the first container with a
// profile teaches us the bytes and every later one skips the compilation.
// runc writes no such file, so it never learns anything and ignores the
// annotation anyway.
type seccompMemo struct {
	mu    sync.Mutex
	progs map[string]string // profile key → base64 BPF
}

// seccompKey identifies a profile; "" means the profile must not be served
// precompiled: notify actions need crun to set up a listener itself.
func seccompKey(sc *specs.LinuxSeccomp) string {
	if sc == nil || sc.ListenerPath != "" {
		return ""
	}
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActNotify {
			return ""
		}
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// PrecompileSeccomp annotates spec with the compiled filter for its
// profile when one is known and returns the profile's key for
// LearnSeccomp.
func (r *Runtime) PrecompileSeccomp(spec *specs.Spec) string {
	if spec.Linux == nil {
		return ""
	}
	key := seccompKey(spec.Linux.Seccomp)
	if key == "" {
		return ""
	}
	r.seccomp.mu.Lock()
	prog, ok := r.seccomp.progs[key]
	r.seccomp.mu.Unlock()
	if ok {
		if spec.Annotations == nil {
			spec.Annotations = map[string]string{}
		}
		spec.Annotations[seccompBPFAnnotation] = prog
	}
	return key
}

// LearnSeccomp records the filter the runtime compiled for container id,
// created from a spec whose PrecompileSeccomp key was key.
func (r *Runtime) LearnSeccomp(key, id string) {
	if key == "" {
		return
	}
	r.seccomp.mu.Lock()
	_, known := r.seccomp.progs[key]
	r.seccomp.mu.Unlock()
	if known {
		return
	}
	prog, err := os.ReadFile(filepath.Join(r.Root, id, "seccomp.bpf"))
	// A BPF program is a whole number of 8-byte instructions; anything else
	// is not crun's compiled filter.
	if err != nil || len(prog) == 0 || len(prog)%8 != 0 {
		return
	}
	r.seccomp.mu.Lock()
	defer r.seccomp.mu.Unlock()
	if r.seccomp.progs == nil {
		r.seccomp.progs = map[string]string{}
	}
	r.seccomp.progs[key] = base64.StdEncoding.EncodeToString(prog)
}
