package integration

import (
	"strings"
	"testing"
	"time"
)

// Healthchecks, --init and kill vs restart policies: what compose's
// depends_on: service_healthy, init: true and restart: rely on.
func TestHealthInitKill(t *testing.T) {
	forEachDriver(t, []scenario{
		{"healthcheck-states", func(c *tcase) {
			n := c.name("hc")
			c.ok(runArgs("-d", "--name", n, "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
				"--health-retries", "2", "--health-timeout", "2s", "busybox", "sleep", "60")...)
			c.wantEq(c.inspect(n, "{{.State.Health.Status}}"), "starting", "a new container's health")
			c.eventually(15*time.Second, "unhealthy after failing probes", func() bool {
				return c.inspect(n, "{{.State.Health.Status}}") == "unhealthy"
			})
			c.wantContains(c.ok("ps", "--filter", "name="+n, "--format", "{{.Status}}"), "(unhealthy)", "ps status")
			c.ok("exec", n, "touch", "/tmp/ok")
			c.eventually(15*time.Second, "healthy after a passing probe", func() bool {
				return c.inspect(n, "{{.State.Health.Status}} {{.State.Health.FailingStreak}}") == "healthy 0"
			})
			c.wantContains(c.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}"), n, "ps --filter health=healthy")
			if out := c.ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"); strings.Contains(out, n) {
				c.Errorf("a healthy container matched health=unhealthy")
			}
			c.wantEq(c.inspect(n, "{{(index .State.Health.Log 0).ExitCode}}"), "1", "the log keeps the failed probes")
		}},
		{"healthcheck-none-and-timeout", func(c *tcase) {
			n := c.name("hcn")
			c.ok(runArgs("-d", "--name", n, "--health-cmd", "sleep 5", "--health-interval", "200ms",
				"--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "60")...)
			c.eventually(15*time.Second, "a probe over its timeout fails", func() bool {
				return c.inspect(n, "{{.State.Health.Status}}") == "unhealthy"
			})
			c.wantContains(c.inspect(n, "{{(index .State.Health.Log 0).Output}}"), "exceeded timeout", "timeout message")
			m := c.name("hcnone")
			c.ok(runArgs("-d", "--name", m, "--no-healthcheck", "busybox", "sleep", "60")...)
			c.wantEq(c.inspect(m, "{{if .State.Health}}has{{else}}none{{end}}"), "none", "--no-healthcheck")
		}},
		{"init", func(c *tcase) {
			out := c.ok(runArgs("--rm", "--init", "busybox", "cat", "/proc/1/cmdline")...)
			c.wantContains(strings.ReplaceAll(out, "\x00", " "), "docker-init -- cat /proc/1/cmdline", "--init runs the process under docker-init")
			n := c.name("init")
			c.ok(runArgs("-d", "--name", n, "--init", "busybox", "sleep", "60")...)
			// sleep as PID 1 ignores SIGTERM; under the init it stops at once,
			// so stop -t 30 returns with exit code 143 rather than 137.
			c.ok("stop", "-t", "30", n)
			c.wantEq(c.inspect(n, "{{.State.ExitCode}}"), "143", "the init forwards SIGTERM")
		}},
		{"kill-is-a-user-stop", func(c *tcase) {
			n := c.name("kr")
			c.ok(runArgs("-d", "--name", n, "--restart", "on-failure", "busybox", "sleep", "60")...)
			c.ok("kill", n)
			time.Sleep(1500 * time.Millisecond) // longer than the first restart delay
			c.wantEq(c.inspect(n, "{{.State.Running}} {{.RestartCount}}"), "false 0", "a killed container is not restarted")
		}},
	})
}
