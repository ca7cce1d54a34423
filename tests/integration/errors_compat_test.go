package integration

import (
	"strings"
	"testing"
)

// TestErrorTexts: messages clients match on keep dockerd's wording (dockerd
// 20.10 capitalises some of them; 28, which berthd follows, does not).
func TestErrorTexts(t *testing.T) { forEachDriver(t, errorTextScenarios) }

var errorTextScenarios = []scenario{
	{"kill", func(c *tcase) {
		r := c.code(1, "kill", "nope-"+randHex(3))
		if s := strings.ToLower(r.Stderr); !strings.Contains(s, "cannot kill container: nope-") || !strings.Contains(s, "no such container: nope-") {
			c.Errorf("kill of a missing container: %s", r)
		}
		n := c.name("kerr")
		c.ok(createArgs("--name", n, "busybox", "true")...)
		r = c.code(1, "kill", n)
		if s := strings.ToLower(r.Stderr); !strings.Contains(s, "cannot kill container: "+n) || !strings.Contains(s, "is not running") {
			c.Errorf("kill of a stopped container: %s", r)
		}
	}},
	{"rm running", func(c *tcase) {
		n := c.sleeper("rmerr")
		r := c.code(1, "rm", n)
		s := strings.ToLower(r.Stderr)
		// 28: "cannot remove container \"/n\": container is running: stop the
		// container before removing or force remove"; 20.10: "You cannot
		// remove a running container ... Stop the container before
		// attempting removal or force remove".
		if !strings.Contains(s, "cannot remove") || !strings.Contains(s, "running container") && !strings.Contains(s, "container is running") || !strings.Contains(s, "force remove") {
			c.Errorf("rm of a running container: %s", r)
		}
	}},
}
