package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// busyboxRootfs makes a minimal rootfs from the host's static busybox.
func busyboxRootfs(t *testing.T, dir string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Skipf("no busybox: %v", err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "ps", "grep", "cat", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(bin, app)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
}

// TestRuncRunsGeneratedSpec runs a generated spec with the real runc and
// checks what the container sees.
func TestRuncRunsGeneratedSpec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("no runc")
	}
	tmp := t.TempDir()
	bundle, rootfs, state := filepath.Join(tmp, "bundle"), filepath.Join(tmp, "bundle", "rootfs"), filepath.Join(tmp, "state")
	busyboxRootfs(t, rootfs)
	id := fmt.Sprintf("berth-oci-test-%d", time.Now().UnixNano())
	parent := "berth-oci-test-" + fmt.Sprint(os.Getpid())
	t.Cleanup(func() {
		// runc run removes the container on exit; this covers a failed run.
		_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run()
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			_ = os.Remove(filepath.Join(d, id))
			_ = os.Remove(d)
		}
		dirs, _ = filepath.Glob("/sys/fs/cgroup/*/" + parent)
		if len(dirs) > 0 {
			t.Errorf("cgroups left behind: %v", dirs)
		}
	})

	script := `echo PID=$$; ps -o pid,comm | grep -w ps >/dev/null && echo PS=ok; ps | grep -c . ; grep CapEff /proc/self/status; ` +
		`if cat /proc/kcore >/dev/null 2>&1 && [ -s /proc/kcore ]; then echo KCORE=visible; else echo KCORE=masked; fi; ` +
		`cat /sys/fs/cgroup/memory/memory.limit_in_bytes; echo HOST=$(cat /proc/sys/kernel/hostname)`
	in := &Input{
		ID: id, Rootfs: rootfs,
		Config: &container.Config{Hostname: "ocitest"},
		HostConfig: &container.HostConfig{
			CapDrop:   []string{"ALL"},
			CapAdd:    []string{"CHOWN", "KILL"},
			Resources: container.Resources{Memory: 64 << 20},
		},
		Args:        []string{"/bin/sh", "-c", script},
		CgroupsPath: "/" + parent + "/" + id,
	}
	s, err := Generate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, runc, "--root", state, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("runc run: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	got := out.String()
	t.Logf("container output:\n%s", got)
	// CHOWN is bit 0 and KILL bit 5: 0x21.
	for _, want := range []string{"PID=1\n", "CapEff:\t0000000000000021\n", "KCORE=masked\n", fmt.Sprintf("%d\n", 64<<20), "HOST=ocitest\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Own pid namespace: ps sees a header, sh and ps (plus grep) only.
	if lines := psCount(got); lines > 5 {
		t.Errorf("ps saw %d lines; pid namespace not private:\n%s", lines, got)
	}
}

func psCount(out string) int {
	for _, l := range strings.Split(out, "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "%d", &n); err == nil && !strings.Contains(l, "=") && len(strings.TrimSpace(l)) < 4 {
			return n
		}
	}
	return 1 << 20
}
