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
	// runc gives a tmpfs the mode of the directory it covers, so /tmp
	// needs the mode real images give it.
	if err := os.Chmod(filepath.Join(dir, "tmp"), os.ModePerm|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
}

// runInRunc writes in's spec to a bundle, runs it to completion with the
// real runc and returns its stdout. Everything it made is removed by
// t.Cleanup: the runc state, the container and its cgroups.
func runInRunc(t *testing.T, build func(rootfs, id, cgroupsPath string) *Input) string {
	t.Helper()
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
	parent := fmt.Sprintf("berth-oci-test-%d", os.Getpid())
	t.Cleanup(func() {
		// runc run removes the container on exit; this covers a failed run.
		_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run()
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			_ = os.Remove(filepath.Join(d, id))
			_ = os.Remove(d)
		}
		if dirs, _ = filepath.Glob("/sys/fs/cgroup/*/" + parent); len(dirs) > 0 {
			t.Errorf("cgroups left behind: %v", dirs)
		}
	})
	s, err := Generate(context.Background(), build(rootfs, id, "/"+parent+"/"+id))
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
	t.Logf("container output:\n%s", out.String())
	return out.String()
}

// TestRuncRunsGeneratedSpec checks the namespaces, capabilities, masked
// paths and memory limit a generated spec gives under the real runc.
func TestRuncRunsGeneratedSpec(t *testing.T) {
	script := `echo PID=$$; ps | grep -c . ; grep CapEff /proc/self/status; ` +
		`if cat /proc/kcore >/dev/null 2>&1 && [ -s /proc/kcore ]; then echo KCORE=visible; else echo KCORE=masked; fi; ` +
		`cat /sys/fs/cgroup/memory/memory.limit_in_bytes; echo HOST=$(cat /proc/sys/kernel/hostname)`
	got := runInRunc(t, func(rootfs, id, cg string) *Input {
		return &Input{
			ID: id, Rootfs: rootfs,
			Config: &container.Config{Hostname: "ocitest"},
			HostConfig: &container.HostConfig{
				CapDrop:   []string{"ALL"},
				CapAdd:    []string{"CHOWN", "KILL"},
				Resources: container.Resources{Memory: 64 << 20},
			},
			Args:        []string{"/bin/sh", "-c", script},
			CgroupsPath: cg,
		}
	})
	// CHOWN is bit 0 and KILL bit 5: 0x21.
	for _, want := range []string{"PID=1\n", "CapEff:\t0000000000000021\n", "KCORE=masked\n", fmt.Sprintf("%d\n", 64<<20), "HOST=ocitest\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Own pid namespace: ps sees a header, sh, ps and grep only.
	if lines := psCount(got); lines > 5 {
		t.Errorf("ps saw %d lines; pid namespace not private:\n%s", lines, got)
	}
}

// TestRuncReadonlyRootfsUserAndEtcFiles checks --read-only, --tmpfs, the
// bind-mounted /etc files, -u resolution, the pids limit and rlimits.
func TestRuncReadonlyRootfsUserAndEtcFiles(t *testing.T) {
	etc := t.TempDir()
	for n, c := range map[string]string{"hostname": "rohost\n", "hosts": "127.0.0.1\tlocalhost\n", "resolv.conf": "nameserver 192.0.2.1\n"} {
		writeFile(t, filepath.Join(etc, n), c)
	}
	pids := int64(50)
	script := `touch /rootfs-write 2>/dev/null && echo ROOT=rw || echo ROOT=ro; touch /tmp/x && echo TMP=rw; ` +
		`cat /etc/resolv.conf; echo ID=$(id -u):$(id -g):$(id -G); echo HOME=$HOME; ulimit -n; ` +
		`cat /sys/fs/cgroup/pids/pids.max; grep -q ' /tmp ' /proc/mounts && echo TMPFS=yes`
	got := runInRunc(t, func(rootfs, id, cg string) *Input {
		writeFile(t, filepath.Join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
		writeFile(t, filepath.Join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "id")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "touch")); err != nil {
			t.Fatal(err)
		}
		return &Input{
			ID: id, Rootfs: rootfs,
			Config: &container.Config{Hostname: "rohost", User: "app"},
			HostConfig: &container.HostConfig{
				ReadonlyRootfs: true,
				Tmpfs:          map[string]string{"/tmp": "size=1m"},
				Resources: container.Resources{PidsLimit: &pids,
					Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}}},
			},
			HostnamePath: filepath.Join(etc, "hostname"), HostsPath: filepath.Join(etc, "hosts"),
			ResolvConfPath: filepath.Join(etc, "resolv.conf"),
			Args:           []string{"/bin/sh", "-c", script},
			CgroupsPath:    cg,
		}
	})
	for _, want := range []string{"ROOT=ro\n", "TMP=rw\n", "nameserver 192.0.2.1\n", "ID=1000:1000:1000 2000\n", "HOME=/home/app\n", "512\n", "50\n", "TMPFS=yes\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
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
