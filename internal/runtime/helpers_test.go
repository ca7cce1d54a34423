package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const runcPath = "/usr/sbin/runc"

// testContainer is a busybox container started with `runc run -d`.
type testContainer struct {
	rt     *Runtime
	id     string
	bundle string
	cgroup string // cgroupsPath, e.g. /berth-test-1a2b3c
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(runcPath); err != nil {
		t.Skip("runc not installed")
	}
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		t.Skip("busybox not installed")
	}
}

func randomID(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// makeRootfs copies busybox into dir/bin and links every applet to it.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("/usr/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(list)) {
		if name != "busybox" {
			os.Symlink("busybox", filepath.Join(bin, name))
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "etc"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
}

// startContainer runs args (default `sleep 1000`) in a fresh bundle and
// registers a cleanup that kills and deletes it and removes its cgroups.
func startContainer(t *testing.T, args ...string) *testContainer {
	t.Helper()
	requireRoot(t)
	if len(args) == 0 {
		args = []string{"sleep", "1000"}
	}
	tmp := t.TempDir()
	id := "berth-test-" + randomID(t)
	c := &testContainer{
		rt:     &Runtime{Name: "runc", Path: runcPath, Root: filepath.Join(tmp, "root")},
		id:     id,
		bundle: filepath.Join(tmp, "bundle"),
		cgroup: "/" + id,
	}
	makeRootfs(t, filepath.Join(c.bundle, "rootfs"))
	if out, err := exec.Command(runcPath, "spec", "--bundle", c.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	var spec specs.Spec
	readJSON(t, filepath.Join(c.bundle, "config.json"), &spec)
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Root.Readonly = false
	spec.Linux.CgroupsPath = c.cgroup
	writeJSON(t, filepath.Join(c.bundle, "config.json"), &spec)

	t.Cleanup(func() { c.cleanup(t) })
	// The detached container inherits runc's stdio: give it /dev/null
	// (a pipe would never reach EOF) and read errors from the log.
	logPath := filepath.Join(tmp, "run.log")
	cmd := exec.Command(runcPath, "--root", c.rt.Root, "--log", logPath, "--log-format", "json",
		"run", "-d", "--bundle", c.bundle, id)
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("runc run: %v: %s", err, b)
	}
	return c
}

func (c *testContainer) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.rt.Kill(ctx, c.id, 9, true)
	c.rt.Delete(ctx, c.id, true)
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + c.cgroup)
	for _, d := range dirs {
		// runc delete removes them; this only catches a failed delete.
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			t.Logf("cleanup: %v", err)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls State until it reports want.
func waitStatus(t *testing.T, c *testContainer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.rt.State(context.Background(), c.id)
		if err == nil && st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never became %q (last %+v, %v)", want, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
