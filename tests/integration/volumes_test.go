package integration

import (
	"context"
	"strings"
	"testing"
)

// volume returns a unique volume name removed at cleanup.
func (c *tcase) volume(prefix string) string {
	n := prefix + "-" + c.dr.Name + "-" + randHex(4)
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "volume", "rm", "-f", n) })
	return n
}

func TestVolumes(t *testing.T) { forEachDriver(t, volumeScenarios) }

var volumeScenarios = []scenario{
	{"named-volume-outlives-container", func(c *tcase) {
		v := c.volume("data")
		c.wantEq(c.ok("volume", "create", "--label", "team=a", v), v, "create prints the name")
		c.ok(runArgs("--rm", "-v", v+":/data", "busybox", "sh", "-c", "echo kept > /data/f")...)
		c.wantEq(c.ok(runArgs("--rm", "-v", v+":/data:ro", "busybox", "cat", "/data/f")...), "kept", "data survives")
		r := c.run(runArgs("--rm", "-v", v+":/data:ro", "busybox", "touch", "/data/g")...)
		if r.Code == 0 {
			c.Errorf(":ro volume was writable: %s", r)
		}
		c.wantEq(c.ok("volume", "inspect", "-f", "{{.Driver}} {{.Labels.team}}", v), "local a", "inspect")
		c.wantContains(c.ok("volume", "ls", "-q", "-f", "label=team=a"), v, "ls -f label")
	}},
	{"copy-up-from-image", func(c *tcase) {
		v := c.volume("cu")
		// /etc of the image is copied into a new, empty named volume.
		c.wantEq(c.ok(runArgs("--rm", "-v", v+":/etc", "busybox", "sh", "-c", "grep -c nobody /etc/passwd")...), "1", "copy-up")
	}},
	{"volume-in-use", func(c *tcase) {
		v := c.volume("busy")
		n := c.sleeper("vuse", "-v", v+":/data")
		r := c.run("volume", "rm", v)
		if r.Code == 0 || !strings.Contains(r.Stderr, "volume is in use") {
			c.Fatalf("rm of an in-use volume: %s", r)
		}
		c.ok("rm", "-f", n)
		c.ok("volume", "rm", v)
	}},
	{"mount-type-volume-and-volumes-from", func(c *tcase) {
		v := c.volume("mt")
		src := c.name("vsrc")
		c.ok(createArgs("--name", src, "--mount", "type=volume,source="+v+",target=/shared", "busybox")...)
		c.ok(runArgs("--rm", "--volumes-from", src, "busybox", "sh", "-c", "echo via-from > /shared/x")...)
		c.wantEq(c.ok(runArgs("--rm", "-v", v+":/s", "busybox", "cat", "/s/x")...), "via-from", "--volumes-from")
	}},
	{"tmpfs-volume-options", func(c *tcase) {
		v := c.volume("tmp")
		c.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", v)
		out := c.ok(runArgs("--rm", "-v", v+":/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")...)
		c.wantContains(out, "tmpfs", "tmpfs-backed volume")
	}},
	{"anonymous-volumes-removed-with-rm", func(c *tcase) {
		n := c.name("anon")
		c.ok(runArgs("--name", n, "-v", "/scratch", "busybox", "true")...)
		vol := c.inspect(n, "{{range .Mounts}}{{.Name}}{{end}}")
		c.ok("rm", "-v", n)
		if r := c.run("volume", "inspect", vol); r.Code == 0 {
			c.Errorf("rm -v left %s", vol)
		}
		// --rm removes anonymous volumes too.
		before := c.ok("volume", "ls", "-q")
		c.ok(runArgs("--rm", "-v", "/scratch2", "busybox", "true")...)
		c.wantEq(c.ok("volume", "ls", "-q"), before, "--rm left an anonymous volume")
	}},
	{"prune-anonymous-only", func(c *tcase) {
		named := c.volume("keep")
		c.ok("volume", "create", named)
		n := c.name("pa")
		c.ok(createArgs("--name", n, "-v", "/anon", "busybox")...)
		anon := c.inspect(n, "{{range .Mounts}}{{.Name}}{{end}}")
		c.ok("rm", n)
		c.ok("volume", "prune", "-f")
		if r := c.run("volume", "inspect", anon); r.Code == 0 {
			c.Errorf("prune kept the dangling anonymous volume")
		}
		if c.apiAtLeast("1.42") {
			c.ok("volume", "inspect", named) // API >= 1.42: named volumes need --all
		}
	}},
}

// Listing filters and formats, through both CLIs.
var volumeListScenarios = []scenario{
	{"ls-filters-and-format", func(c *tcase) {
		used := c.volume("used")
		free := c.volume("free")
		c.ok("volume", "create", used)
		c.ok("volume", "create", free)
		c.sleeper("vl", "-v", used+":/u")
		dangling := c.ok("volume", "ls", "-q", "-f", "dangling=true")
		if !strings.Contains(dangling, free) || strings.Contains(dangling, used) {
			c.Errorf("dangling=true: %q", dangling)
		}
		c.wantEq(c.ok("volume", "ls", "-q", "-f", "name="+free), free, "name filter")
		c.wantContains(c.ok("volume", "ls", "--format", "{{.Name}}:{{.Driver}}"), free+":local", "--format")
	}},
}

func TestVolumeList(t *testing.T) { forEachDriver(t, volumeListScenarios) }
