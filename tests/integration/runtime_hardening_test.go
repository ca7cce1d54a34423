package integration

import (
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// dockerDefaultCapEff is the effective capability set of Docker's default
// capabilities (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP), as
// dockerd's containers show it in /proc/self/status.
const dockerDefaultCapEff = "00000000a80425fb"

// TestRuntimeHardening checks, from inside containers, the defences Docker
// sets by default and the runtime escapes the incumbents closed: no file
// descriptor of the engine leaks into a container (CVE-2024-21626), the
// runtime binary cannot be written from inside (CVE-2019-5736), Docker's
// capability set, masked and read-only paths, no-new-privileges only when
// asked, and a private cgroup namespace on cgroup v2 hosts.
func TestRuntimeHardening(t *testing.T) {
	forEachDriver(t, []scenario{
		{"no-leaked-fds-in-init-or-exec", func(c *tcase) {
			// ls opens the directory it lists as fd 3; nothing else may be open.
			out := c.ok(runArgs("--rm", "busybox", "ls", "/proc/self/fd")...)
			c.wantEq(strings.Join(strings.Fields(out), " "), "0 1 2 3", "fds of the container's init")
			name := c.sleeper("fds")
			out = c.ok("exec", name, "ls", "/proc/1/fd")
			c.wantEq(strings.Join(strings.Fields(out), " "), "0 1 2", "fds of a running init")
			out = c.ok("exec", name, "ls", "/proc/self/fd")
			c.wantEq(strings.Join(strings.Fields(out), " "), "0 1 2 3", "fds of an exec'd process")
			// The CVE-2024-21626 door: a working directory through a leaked fd.
			for fd := 3; fd <= 9; fd++ {
				r := c.run(runArgs("--rm", "-w", "/proc/self/fd/"+strconv.Itoa(fd), "busybox", "ls", "../../../../etc/shadow")...)
				if r.Code == 0 {
					c.Errorf("-w /proc/self/fd/%d reached the host: %s", fd, r)
				}
			}
		}},
		{"runtime-binary-not-writable-from-inside", func(c *tcase) {
			before := runtimeSums(c)
			// The container watches for processes it did not start (the
			// runtime joins its PID namespace on every exec) and tries to
			// open their executable for writing, as the CVE-2019-5736 exploit does.
			watcher := `while :; do for p in /proc/[0-9]*; do n=${p#/proc/}; ` +
				`[ "$n" = 1 ] || [ "$n" = $$ ] || grep -q "^$n$" /tmp/seen 2>/dev/null && continue; ` +
				`echo $n >> /tmp/seen; l=$(readlink $p/exe 2>/dev/null); [ -n "$l" ] || continue; ` +
				// The container's own binaries are its business (and opening
				// one for writing would only fail the exec with ETXTBSY).
				`[ -e "$l" ] && continue; ` +
				`if { : >> $p/exe; } 2>/dev/null; then echo "WROTE $n $l" >> /tmp/result; else echo "refused $n $l" >> /tmp/result; fi; ` +
				`done; done`
			name := c.detached("cve5736", nil, "sh", "-c", watcher)
			for i := 0; i < 15; i++ {
				c.ok("exec", name, "true")
			}
			res := c.ok("exec", name, "sh", "-c", "cat /tmp/result 2>/dev/null; true")
			if strings.Contains(res, "WROTE") {
				c.Errorf("a process in the container opened a foreign executable for writing:\n%s", res)
			}
			c.Logf("processes of the runtime seen from inside: %d", strings.Count(res, "refused"))
			if after := runtimeSums(c); after != before {
				c.Errorf("runtime binaries changed: %s → %s", before, after)
			}
		}},
		{"default-capabilities", func(c *tcase) {
			out := c.ok(runArgs("--rm", "busybox", "grep", "^CapEff", "/proc/self/status")...)
			c.wantEq(strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")), dockerDefaultCapEff, "CapEff")
			out = c.ok(runArgs("--rm", "--cap-drop", "ALL", "busybox", "grep", "^CapEff", "/proc/self/status")...)
			c.wantEq(strings.TrimSpace(strings.TrimPrefix(out, "CapEff:")), "0000000000000000", "CapEff with --cap-drop ALL")
		}},
		{"masked-and-readonly-paths", func(c *tcase) {
			script := `echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c); ` +
				`echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l); ` +
				`echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys=writable || echo sys=readonly; ` +
				`echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq=writable || echo sysrq=readonly`
			out := c.ok(runArgs("--rm", "busybox", "sh", "-c", script)...)
			c.wantEq(strings.Join(strings.Fields(out), " "), "kcore=0 firmware=0 sys=readonly sysrq=readonly", "masked and read-only paths")

		}},
		{"no-new-privileges-only-when-asked", func(c *tcase) {
			out := c.ok(runArgs("--rm", "busybox", "grep", "^NoNewPrivs", "/proc/self/status")...)
			c.wantContains(out, "NoNewPrivs:\t0", "default")
			out = c.ok(runArgs("--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "^NoNewPrivs", "/proc/self/status")...)
			c.wantContains(out, "NoNewPrivs:\t1", "asked for")
		}},
		{"private-cgroup-namespace-on-v2", func(c *tcase) {
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
				c.Skip("cgroup v1 host: Docker's default there is the host cgroup namespace")
			}
			out := c.ok(runArgs("--rm", "busybox", "cat", "/proc/self/cgroup")...)
			c.wantEq(strings.TrimSpace(out), "0::/", "cgroup of the container seen from inside")
		}},
	})
}

// runtimeSums hashes the host's OCI runtime binaries.
func runtimeSums(c *tcase) string {
	var parts []string
	for _, name := range []string{"crun", "runc"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			c.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			c.Fatal(err)
		}
		parts = append(parts, name+"="+string(h.Sum(nil)[:8]))
	}
	return strings.Join(parts, ",")
}
