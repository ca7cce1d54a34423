package integration

import (
	"strings"
	"testing"
	"time"
)

func TestExecAttach(t *testing.T) { forEachDriver(t, execScenarios) }

var execScenarios = []scenario{
	{"exec-basic-and-exit-code", func(c *tcase) {
		n := c.sleeper("exec")
		c.wantEq(c.ok("exec", n, "echo", "in-exec"), "in-exec", "exec output")
		c.code(5, "exec", n, "sh", "-c", "exit 5")
		// Docker reports a missing exec command as 126 or 127 depending on
		// version (20.10 says 126), always with the runtime's reason.
		r := c.run("exec", n, "nosuchcmd")
		if (r.Code != 126 && r.Code != 127) || !strings.Contains(r.Stdout+r.Stderr, "executable file not found") {
			c.Errorf("exec of a missing command: want 126/127 and 'executable file not found': %s", r)
		}
	}},
	{"exec-options", func(c *tcase) {
		n := c.sleeper("execo")
		c.wantEq(c.ok("exec", "-e", "X=42", n, "sh", "-c", "echo $X"), "42", "-e")
		c.wantEq(c.ok("exec", "-w", "/etc", n, "pwd"), "/etc", "-w")
		c.wantEq(c.ok("exec", "-u", "app", n, "id", "-un"), "app", "-u")
		c.wantEq(c.ok("exec", "-u", "65534", n, "id", "-u"), "65534", "-u uid")
	}},
	{"exec-stdin", func(c *tcase) {
		n := c.sleeper("execi")
		r := c.runIn("piped\n", "exec", "-i", n, "cat")
		if r.Code != 0 || r.Stdout != "piped\n" {
			c.Fatalf("exec -i: %s", r)
		}
	}},
	{"exec-detach", func(c *tcase) {
		n := c.sleeper("execd")
		c.ok("exec", "-d", n, "sh", "-c", "sleep 0.3; touch /tmp/marker")
		c.eventually(10*time.Second, "detached exec effect", func() bool {
			return c.run("exec", n, "test", "-f", "/tmp/marker").Code == 0
		})
	}},
	{"exec-tty", func(c *tcase) {
		n := c.sleeper("exect")
		s := c.startPTY("exec", "-it", n, "sh", "-c", "tty; exit 6")
		if code := s.wait(); code != 6 {
			c.Errorf("exec -it exit code %d, want 6; output:\n%s", code, s.output())
		}
		out := s.output()
		c.wantContains(out, "/dev/pts/", "tty in exec")
	}},
	{"run-tty", func(c *tcase) {
		s := c.startPTY(runArgs("--rm", "-it", "busybox", "sh", "-c", "tty; exit 2")...)
		if code := s.wait(); code != 2 {
			c.Errorf("run -it exit code %d; output:\n%s", code, s.output())
		}
		c.wantContains(s.output(), "/dev/pts/0", "container tty")
	}},
	{"attach-detach-keys", func(c *tcase) {
		n := c.name("att")
		c.ok(runArgs("-dit", "--name", n, "busybox", "sh")...)
		s := c.startPTY("attach", n)
		time.Sleep(500 * time.Millisecond) // let the attach stream connect before typing
		s.write("echo att-$((40+2))\r")
		s.expect("att-42")
		s.write("\x10\x11") // ctrl-p ctrl-q
		// Docker's CLI exits 1 on detach (its "read escape sequence" error);
		// whether the message shows depends on where the daemon detected the keys.
		if code := s.wait(); code != 1 {
			c.Errorf("detach exit code %d, want 1; output:\n%s", code, s.output())
		}
		c.wantEq(c.inspect(n, "{{.State.Running}}"), "true", "container survives detach")
	}},
	{"exec-stopped-container", func(c *tcase) {
		n := c.name("execs")
		c.ok(createArgs("--name", n, "busybox")...)
		r := c.run("exec", n, "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, "is not running") {
			c.Errorf("exec in a created container: want 'is not running': %s", r)
		}
	}},
}
