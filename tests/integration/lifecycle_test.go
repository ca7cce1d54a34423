package integration

import (
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) { forEachDriver(t, lifecycleScenarios) }

// loop runs forever in small sleeps so a trap fires promptly.
const loop = "while true; do sleep 0.1; done"

// trapper starts a detached shell that sets trap, says so, then loops, and
// returns once the trap is set. The shell is the container's PID 1, which
// the kernel spares the signals it has no handler for: a signal sent before
// the trap builtin ran would be dropped, and on a loaded machine the next
// CLI command can come first.
func (c *tcase) trapper(prefix, trap string) string {
	c.Helper()
	n := c.detached(prefix, nil, "sh", "-c", trap+"; echo trap-set; "+loop)
	c.eventually(20*time.Second, n+"'s trap", func() bool {
		return strings.Contains(c.ok("logs", n), "trap-set")
	})
	return n
}

var lifecycleScenarios = []scenario{
	{"stop-sigterm", func(c *tcase) {
		n := c.trapper("stopt", "trap 'exit 0' TERM")
		start := time.Now()
		c.wantEq(c.ok("stop", n), n, "stop prints the name")
		if d := time.Since(start); d > 8*time.Second {
			c.Errorf("stop took %s: SIGTERM not delivered?", d)
		}
		c.wantEq(c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0", "state")
	}},
	{"stop-timeout-sigkill", func(c *tcase) {
		n := c.trapper("stopk", "trap '' TERM")
		c.ok("stop", "-t", "1", n)
		c.wantEq(c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137", "state")
	}},
	{"stop-signal", func(c *tcase) {
		// The stop signal query parameter is API 1.42 (Docker 22+); dockerd 20.10 ignores it.
		c.needAPI("1.42")
		n := c.trapper("stops", "trap 'exit 5' USR1")
		c.ok("stop", "--signal", "USR1", "-t", "10", n)
		c.wantEq(c.inspect(n, "{{.State.ExitCode}}"), "5", "exit code from USR1 trap")
	}},
	{"kill-signal", func(c *tcase) {
		n := c.trapper("kill", "trap 'echo got-usr1' USR1")
		c.wantEq(c.ok("kill", "-s", "USR1", n), n, "kill output")
		c.eventually(10*time.Second, "trap output", func() bool {
			return strings.Contains(c.ok("logs", n), "got-usr1")
		})
		c.wantEq(c.inspect(n, "{{.State.Running}}"), "true", "still running")
		c.ok("kill", n)
		c.waitExit(n)
		c.wantEq(c.inspect(n, "{{.State.ExitCode}}"), "137", "SIGKILL exit")
	}},
	{"start-attach-interactive", func(c *tcase) {
		n := c.name("sai")
		c.ok(createArgs("-i", "--name", n, "busybox", "cat")...)
		r := c.runIn("through start\n", "start", "-a", "-i", n)
		if r.Code != 0 || r.Stdout != "through start\n" {
			c.Fatalf("start -a -i: %s", r)
		}
		m := c.name("sa")
		c.ok(createArgs("--name", m, "busybox", "sh", "-c", "echo out; exit 4")...)
		r = c.run("start", "-a", m)
		if r.Code != 4 || r.Out() != "out" {
			c.Errorf("start -a should print output and return the exit code: %s", r)
		}
	}},
	{"restart", func(c *tcase) {
		n := c.sleeper("rst")
		pid1, st1 := c.inspect(n, "{{.State.Pid}}"), c.inspect(n, "{{.State.StartedAt}}")
		c.ok("restart", "-t", "1", n)
		pid2, st2 := c.inspect(n, "{{.State.Pid}}"), c.inspect(n, "{{.State.StartedAt}}")
		c.wantEq(c.inspect(n, "{{.State.Running}}"), "true", "running after restart")
		if pid1 == pid2 || st1 == st2 {
			c.Errorf("restart did not start a new process: pid %s→%s started %s→%s", pid1, pid2, st1, st2)
		}
	}},
	{"rm", func(c *tcase) {
		n := c.sleeper("rm")
		r := c.run("rm", n)
		if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "cannot remove") {
			c.Fatalf("rm of a running container must fail with 'cannot remove': %s", r)
		}
		c.wantEq(c.ok("rm", "-f", n), n, "rm -f output")
		r = c.run("inspect", n)
		c.wantContains(r.Stderr, "No such object: "+n, "gone")
	}},
	{"rm-volumes", func(c *tcase) {
		n := c.name("rmv")
		c.ok(createArgs("--name", n, "-v", "/data", "busybox")...)
		vol := c.inspect(n, "{{range .Mounts}}{{.Name}}{{end}}")
		if vol == "" {
			c.Fatal("anonymous volume not listed in .Mounts")
		}
		c.ok("volume", "inspect", vol)
		c.ok("rm", "-v", n)
		if r := c.run("volume", "inspect", vol); r.Code == 0 {
			c.Errorf("rm -v left the anonymous volume %s", vol)
		}
	}},
	{"wait", func(c *tcase) {
		n := c.detached("wait", nil, "sh", "-c", "sleep 1; exit 7")
		c.wantEq(c.ok("wait", n), "7", "wait prints the exit code")
	}},
	{"rename", func(c *tcase) {
		a, b := c.name("rna"), c.name("rnb")
		c.ok(createArgs("--name", a, "busybox")...)
		c.ok("rename", a, b)
		c.wantEq(c.inspect(b, "{{.Name}}"), "/"+b, "new name")
		c.wantContains(c.run("container", "inspect", a).Stderr, "No such container: "+a, "old name gone")
	}},
	{"pause-unpause", func(c *tcase) {
		n := c.detached("pause", nil, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done")
		count := func() int { return len(lines(c.ok("logs", n))) }
		c.eventually(10*time.Second, "output", func() bool { return count() > 2 })
		c.ok("pause", n)
		c.wantEq(c.inspect(n, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"), "paused true true", "paused state")
		// Lines written before the freeze may still be on their way to the
		// log (its writer can lag on a loaded machine): count from when
		// the log stands still, which it never would if the loop ran on.
		var before int
		c.eventually(20*time.Second, "the log to stand still", func() bool {
			before = count()
			time.Sleep(300 * time.Millisecond)
			return count() == before
		})
		time.Sleep(700 * time.Millisecond)
		if after := count(); after != before {
			c.Errorf("paused container made progress: %d → %d lines", before, after)
		}
		c.ok("unpause", n)
		c.wantEq(c.inspect(n, "{{.State.Status}} {{.State.Paused}}"), "running false", "unpaused state")
		c.eventually(10*time.Second, "progress after unpause", func() bool { return count() > before+2 })
	}},
	{"top", func(c *tcase) {
		n := c.sleeper("top")
		out := c.ok("top", n)
		ls := lines(out)
		if len(ls) < 2 || !strings.Contains(ls[0], "PID") || !strings.Contains(out, "sleep 600") {
			c.Errorf("top should list sleep 600 under a PID header:\n%s", out)
		}
	}},
	{"nsenter-by-pid", func(c *tcase) {
		n := c.sleeper("ns", "-h", "nshost")
		pid := c.inspect(n, "{{.State.Pid}}")
		out, err := hostCmd(c, "nsenter", "-t", pid, "-p", "-m", "-u", "-i", "-n", "hostname")
		if err != nil {
			c.Fatalf("nsenter: %v %s", err, out)
		}
		c.wantEq(strings.TrimSpace(out), "nshost", "hostname in the container's namespaces")
	}},
}
