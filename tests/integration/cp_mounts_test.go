package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCpMounts: docker cp and the archive endpoints see the container's
// filesystem as the container does, volumes and bind mounts included,
// running or stopped, and never through a symlink to the host.
func TestCpMounts(t *testing.T) { forEachDriver(t, cpMountScenarios) }

var cpMountScenarios = []scenario{
	{"volume and bind, running and stopped", func(c *tcase) {
		vol := "cpv-" + c.dr.Name + "-" + randHex(4)
		rovol := vol + "-ro"
		c.Cleanup(func() { c.run("volume", "rm", "-f", vol, rovol) })
		bind := c.tempDir()
		c.writeFile(bind, "b.txt", "from-bind\n")
		// A host directory the container does not have: a symlink in the
		// volume naming it must resolve inside the container, not here.
		hostOnly := c.tempDir()
		c.writeFile(hostOnly, "secret", "host-secret\n")
		n := c.name("cpm")
		c.ok(runArgs("-d", "--name", n, "-v", vol+":/vol1", "-v", rovol+":/ro:ro", "-v", bind+":/bnd",
			"busybox", "sh", "-c", "echo from-volume > /vol1/data.txt; ln -s "+hostOnly+" /vol1/esc; sleep 600")...)
		c.eventually(10*time.Second, "the volume file", func() bool {
			return c.run("exec", n, "cat", "/vol1/data.txt").Code == 0
		})
		check := func(state string) {
			c.Helper()
			if got := c.ok("cp", n+":/vol1/data.txt", "-"); !strings.Contains(got, "from-volume") {
				c.Errorf("%s: cp out of the volume: %q", state, got)
			}
			if got := c.ok("cp", n+":/bnd/b.txt", "-"); !strings.Contains(got, "from-bind") {
				c.Errorf("%s: cp out of the bind mount: %q", state, got)
			}
			r := c.run("cp", n+":/vol1/esc/secret", "-")
			if r.Code == 0 || strings.Contains(r.Stdout, "host-secret") {
				c.Errorf("%s: a symlink in the volume reached the host: %s", state, r)
			}
			// Into a read-only volume: dockerd's refusal.
			src := c.writeFile(c.tempDir(), "in.txt", "x\n")
			r = c.run("cp", src, n+":/ro/")
			if r.Code == 0 || !strings.Contains(r.Stderr, "mounted volume is marked read-only") {
				c.Errorf("%s: cp into a read-only volume: %s", state, r)
			}
		}
		check("running")
		c.ok("stop", "-t", "0", n)
		check("stopped")

		// Into the volume and the bind mount of the stopped container.
		in := c.writeFile(c.tempDir(), "new.txt", "copied-in\n")
		c.ok("cp", in, n+":/vol1/")
		c.ok("cp", in, n+":/bnd/")
		if got := c.ok(runArgs("--rm", "-v", vol+":/v", "busybox", "cat", "/v/new.txt")...); got != "copied-in" {
			c.Errorf("volume after cp in: %q", got)
		}
		if b, err := os.ReadFile(filepath.Join(bind, "new.txt")); err != nil || string(b) != "copied-in\n" {
			c.Errorf("bind dir after cp in: %q %v", b, err)
		}
		// Nothing of it landed in the container's own layer.
		if out := c.ok("diff", n); strings.Contains(out, "new.txt") {
			c.Errorf("cp into a volume wrote the rw layer: %s", out)
		}
		// And nothing stays mounted after the stopped container's copies.
		if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mounts), bind) {
			c.Errorf("a bind of %s is still mounted", bind)
		}
	}},
}
