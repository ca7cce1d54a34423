package monitor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const runcPath = "/usr/sbin/runc"

// monitorBin is the berth-monitor built by TestMain ("" when not root).
var monitorBin string

// testPool is the supervisor pool test containers are placed in, as
// berthd does by default; ownProcess (set by TestOwnProcess) gives each
// its own monitor process instead.
var (
	testPool   *Pool
	ownProcess bool
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "berth-monitor-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		monitorBin = filepath.Join(dir, "berth-monitor")
		testPool = NewPool(monitorBin, filepath.Join(dir, "supervisors"), 16)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", monitorBin, "../../cmd/berth-monitor")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build berth-monitor: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, runc and busybox")
	}
	for _, p := range []string{runcPath, "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s", p)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one test container's bundle, exec dir and runtime root.
type env struct {
	t       *testing.T
	cfg     Config
	cgroup  string // cgroup parent, relative to each controller's root
	started []*Monitor
}

type opts struct {
	tty, stdin, stdinOnce bool
	log                   bool
	memory                int64 // memory limit in bytes, 0 for none
	hostPID               bool  // share the host's pid namespace
}

// newEnv builds a busybox bundle running args and a Config for it. Cleanup
// kills the container, deletes runtime state and removes the cgroups.
func newEnv(t *testing.T, args []string, o opts) *env {
	t.Helper()
	requireRoot(t)
	base := t.TempDir()
	id := "bt-" + randHex(6)
	e := &env{t: t, cgroup: "berth-test-" + randHex(4)}
	bundle := filepath.Join(base, "bundle")
	makeRootfs(t, filepath.Join(bundle, "rootfs"))
	writeSpec(t, bundle, args, o, "/"+e.cgroup+"/"+id)
	e.cfg = Config{
		ID: id, Dir: filepath.Join(base, "exec"), Bundle: bundle, MonitorPath: monitorBin,
		RuntimePath: runcPath, RuntimeRoot: filepath.Join(base, "runc"),
		Tty: o.tty, OpenStdin: o.stdin, StdinOnce: o.stdinOnce,
		CgroupMemoryPath: filepath.Join("/sys/fs/cgroup/memory", e.cgroup, id),
	}
	if !ownProcess {
		e.cfg.Pool = testPool
	}
	if o.log {
		e.cfg.LogPath = filepath.Join(base, "ctr-json.log")
	}
	t.Cleanup(e.cleanup)
	return e
}

func (e *env) runc(args ...string) ([]byte, error) {
	return exec.Command(runcPath, append([]string{"--root", e.cfg.RuntimeRoot}, args...)...).CombinedOutput()
}

func (e *env) cleanup() {
	e.runc("kill", "--all", e.cfg.ID, "KILL")
	// The monitor reaps, deletes the runtime state and exits; wait for
	// its socket to go, then make sure with delete --force.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(e.cfg.Dir, "monitor.sock")); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range e.started {
		m.Close()
		waitProcGone(m.procPid, 5*time.Second)
	}
	e.runc("delete", "--force", e.cfg.ID)
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + e.cgroup)
	for _, d := range dirs {
		// A process killed a moment ago may still hold the cgroup: retry.
		for i := 0; i < 40; i++ {
			os.Remove(filepath.Join(d, e.cfg.ID))
			if err := os.Remove(d); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func waitProcGone(pid int, d time.Duration) bool {
	if pid <= 0 {
		return true
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(data), ") Z ") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// create runs Create and registers the monitor for cleanup.
func (e *env) create(ctx context.Context) *Monitor {
	e.t.Helper()
	m, err := Create(ctx, e.cfg)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	e.started = append(e.started, m)
	return m
}

func makeRootfs(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sh", "echo", "cat", "sleep", "stty", "true", "kill", "yes", "head"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", n)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeSpec(t *testing.T, bundle string, args []string, o opts, cgroupsPath string) {
	t.Helper()
	out, err := exec.Command(runcPath, "spec", "--rootless=false", "--bundle", bundle).CombinedOutput()
	if err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Args = args
	s.Process.Terminal = o.tty
	if o.memory > 0 {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		lim := o.memory
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim}
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
			s.Linux.Resources.Memory.Swap = &lim // no swap, so the limit ends in an OOM kill
		}
	}
	s.Process.Env = []string{"PATH=/bin", "TERM=xterm"}
	s.Root.Readonly = false
	if o.hostPID {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}
	s.Linux.CgroupsPath = cgroupsPath
	if data, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and polling readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
