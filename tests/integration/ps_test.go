package integration

import (
	"strings"
	"testing"
)

func TestPs(t *testing.T) { forEachDriver(t, psScenarios) }

// psFixture makes one running and one exited (code 3) container with a
// unique label, so filters can be checked without seeing other tests.
func psFixture(c *tcase) (label, running, exited, runID, exID string) {
	c.Helper()
	label = "ps=" + randHex(4)
	running = c.sleeper("psr", "-l", label)
	exited = c.name("pse")
	r := c.run(runArgs("--name", exited, "-l", label, "busybox", "sh", "-c", "exit 3")...)
	if r.Code != 3 {
		c.Fatalf("setup: %s", r)
	}
	return label, running, exited, c.inspect(running, "{{.Id}}"), c.inspect(exited, "{{.Id}}")
}

var psScenarios = []scenario{
	{"all-quiet-and-filters", func(c *tcase) {
		label, running, exited, runID, exID := psFixture(c)
		q := func(args ...string) string {
			return strings.Join(lines(c.ok(append([]string{"ps"}, args...)...)), ",")
		}
		short := func(id string) string { return id[:12] }
		c.wantEq(q("-q", "-f", "label="+label), short(runID), "ps without -a shows running only")
		c.wantEq(q("-aq", "-f", "label="+label), short(exID)+","+short(runID), "ps -a newest first")
		c.wantEq(q("-aq", "--no-trunc", "-f", "label="+label), exID+","+runID, "--no-trunc")
		c.wantEq(q("-aq", "-f", "label="+label, "-f", "status=exited"), short(exID), "status=exited")
		c.wantEq(q("-aq", "-f", "label="+label, "-f", "status=running"), short(runID), "status=running")
		c.wantEq(q("-aq", "-f", "name="+running), short(runID), "name=")
		c.wantEq(q("-aq", "-f", "id="+runID[:10]), short(runID), "id= prefix")
		c.wantEq(q("-aq", "-f", "label="+label, "-f", "exited=3"), short(exID), "exited=3")
		c.wantEq(q("-aq", "-f", "label="+label, "-f", "ancestor=busybox"), short(exID)+","+short(runID), "ancestor=")
		c.wantEq(q("-a", "-f", "label="+label, "--format", "{{.Names}}"), exited+","+running, "--format Names")
	}},
	{"last-and-latest", func(c *tcase) {
		_, _, _, _, exID := psFixture(c)
		c.wantEq(c.ok("ps", "-q", "-n", "1"), exID[:12], "-n 1 is the newest of all states")
		c.wantEq(c.ok("ps", "-q", "-l"), exID[:12], "-l is the latest")
		if n := len(lines(c.ok("ps", "-q", "-n", "2"))); n != 2 {
			c.Errorf("-n 2 listed %d", n)
		}
	}},
	{"table-format-and-size", func(c *tcase) {
		label, _, _, _, _ := psFixture(c)
		out := c.ok("ps", "-a", "-f", "label="+label, "--format", "table {{.ID}}\t{{.Status}}")
		ls := lines(out)
		if len(ls) != 3 {
			c.Fatalf("want header + 2 rows:\n%s", out)
		}
		f := strings.Fields(ls[0])
		if strings.Join(f, " ") != "CONTAINER ID STATUS" {
			c.Errorf("header %q", ls[0])
		}
		c.wantContains(ls[1], "Exited (3)", "exited status")
		c.wantContains(ls[2], "Up ", "running status")
		out = c.ok("ps", "-s", "-f", "label="+label)
		c.wantContains(lines(out)[0], "SIZE", "-s header")
		c.wantContains(out, "(virtual ", "-s virtual size")
		def := lines(c.ok("ps", "-a", "-f", "label="+label))[0]
		for _, h := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"} {
			c.wantContains(def, h, "default header")
		}
	}},
}
