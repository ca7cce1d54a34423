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
		// dockerd answers 126 for every exec that does not start (a missing
		// command included), with the runtime's reason on the stream.
		r := c.run("exec", n, "nosuchcmd")
		if r.Code != 126 || !strings.Contains(r.Stdout+r.Stderr, `OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH`) {
			c.Errorf("exec of a missing command: want 126 and dockerd's message: %s", r)
		}
	}},
	{"exec-start-failures", func(c *tcase) {
		n := c.sleeper("execf")
		for _, f := range []struct {
			args []string
			msg  string
		}{
			{[]string{"exec", n, "/etc"}, "OCI runtime exec failed: exec failed: unable to start container process: "},
			{[]string{"exec", "-w", "/nonexist", n, "pwd"}, "OCI runtime exec failed: exec failed: unable to start container process: "},
			{[]string{"exec", "-u", "nosuchuser", n, "true"}, "unable to find user nosuchuser: no matching entries in passwd file"},
		} {
			if r := c.run(f.args...); r.Code != 126 || !strings.Contains(r.Stdout+r.Stderr, f.msg) {
				c.Errorf("want 126 and %q: %s", f.msg, r)
			}
		}
		// Detached, the failure is the start request's answer.
		r := c.run("exec", "-d", n, "nosuchcmd")
		if r.Code != 1 || !strings.Contains(r.Stderr, `Error response from daemon: OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH`) {
			c.Errorf("exec -d of a missing command: %s", r)
		}
	}},
	{"exec-tty-output", func(c *tcase) {
		// A terminal merges stderr into its one stream and ends lines
		// with "\r\n"; the stream is raw (not multiplexed).
		n := c.sleeper("exectt")
		r := c.run("exec", "-t", n, "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\r\nerr\r\n" || r.Stderr != "" {
			c.Errorf("exec -t: %s", r)
		}
		r = c.run("exec", n, "sh", "-c", "echo out; echo err >&2")
		if r.Code != 0 || r.Stdout != "out\n" || r.Stderr != "err\n" {
			c.Errorf("exec: %s", r)
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
