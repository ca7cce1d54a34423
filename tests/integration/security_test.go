package integration

import (
	"strings"
	"testing"
)

// TestSeccomp checks the filters containers really run under. berthd hands
// crun each profile precompiled after the first container that used it, so
// every case runs more than once: the compiled and the reused filter must
// behave the same, and one profile's filter must never serve another.
func TestSeccomp(t *testing.T) {
	forEachDriver(t, []scenario{
		{"default-profile-loaded-every-time", func(c *tcase) {
			for i := 0; i < 3; i++ {
				out := c.ok(runArgs("--rm", "busybox", "grep", "^Seccomp", "/proc/self/status")...)
				c.wantContains(out, "Seccomp:\t2", "filter mode")
				c.wantContains(out, "Seccomp_filters:\t1", "one filter")
			}
		}},
		{"unconfined-has-none", func(c *tcase) {
			out := c.ok(runArgs("--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "^Seccomp:", "/proc/self/status")...)
			c.wantContains(out, "Seccomp:\t0", "unconfined")
		}},
		{"custom-profile-not-confused-with-default", func(c *tcase) {
			f := c.writeFile(c.tempDir(), "deny-mkdir.json",
				`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
			for i := 0; i < 2; i++ {
				r := c.run(runArgs("--rm", "--security-opt", "seccomp="+f, "busybox", "mkdir", "/tmp/d")...)
				if r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
					c.Fatalf("run %d: mkdir allowed under a profile that denies it: %s", i, r)
				}
			}
			c.ok(runArgs("--rm", "busybox", "mkdir", "/tmp/d")...)
		}},
	})
}
