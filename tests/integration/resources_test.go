package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

func TestResources(t *testing.T) { forEachDriver(t, resourceScenarios) }

var resourceScenarios = []scenario{
	{"memory-oom-kill", func(c *tcase) {
		n := c.name("oom")
		// tail holds a 64 MiB "line" in memory, far past the 16 MiB limit.
		r := c.run(runArgs("--name", n, "--memory", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
			"head -c 64m /dev/zero | tail")...)
		if r.Code != 137 {
			c.Fatalf("want exit 137 from the OOM kill: %s", r)
		}
		c.wantEq(c.inspect(n, "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137", "OOMKilled")
		c.wantEq(c.inspect(n, "{{.HostConfig.Memory}}"), "16777216", "HostConfig.Memory")
	}},
	{"pids-limit", func(c *tcase) {
		n := c.name("pids")
		r := c.run(runArgs("--name", n, "--pids-limit", "10", "busybox", "sh", "-c",
			"for i in $(seq 50); do sleep 2 & done; wait")...)
		if r.Code == 0 {
			c.Fatalf("50 forks under --pids-limit 10 should fail: %s", r)
		}
		c.wantContains(r.Stderr, "fork", "fork failure")
		c.wantEq(c.inspect(n, "{{.HostConfig.PidsLimit}}"), "10", "PidsLimit")
	}},
	{"cpus-stored", func(c *tcase) {
		n := c.name("cpus")
		c.ok(createArgs("--name", n, "--cpus", "1.5", "busybox")...)
		c.wantEq(c.inspect(n, "{{.HostConfig.NanoCpus}}"), "1500000000", "NanoCpus")
	}},
	{"restart-policy-stored", func(c *tcase) {
		n := c.name("rp")
		c.ok(createArgs("--name", n, "--restart", "on-failure:3", "busybox")...)
		c.wantEq(c.inspect(n, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
			"on-failure:3", "RestartPolicy")
		m := c.name("rpa")
		c.ok(createArgs("--name", m, "--restart", "unless-stopped", "busybox")...)
		c.wantEq(c.inspect(m, "{{.HostConfig.RestartPolicy.Name}}"), "unless-stopped", "RestartPolicy")
	}},
	{"update-memory", func(c *tcase) {
		n := c.sleeper("upd", "--memory", "64m", "--memory-swap", "128m")
		c.ok("update", "--memory", "32m", n)
		c.wantEq(c.inspect(n, "{{.HostConfig.Memory}}"), "33554432", "HostConfig.Memory")
		pid, _ := strconv.Atoi(c.inspect(n, "{{.State.Pid}}"))
		cg, err := testutil.CgroupOf(pid, "memory")
		if err != nil {
			c.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", cg, "memory.limit_in_bytes"))
		if err != nil {
			c.Fatal(err)
		}
		c.wantEq(strings.TrimSpace(string(b)), "33554432", "cgroup memory.limit_in_bytes")
	}},
	{"stats-no-stream", func(c *tcase) {
		n := c.sleeper("stats", "--memory", "64m")
		out := c.ok("stats", "--no-stream", n)
		ls := lines(out)
		if len(ls) != 2 {
			c.Fatalf("want header and one row:\n%s", out)
		}
		for _, h := range []string{"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"} {
			c.wantContains(ls[0], h, "header")
		}
		c.wantContains(ls[1], n, "row")
		c.wantContains(ls[1], "64MiB", "memory limit")
		c.wantEq(c.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", n), n+" 1", "format")
	}},
	{"port-none", func(c *tcase) {
		n := c.sleeper("port")
		r := c.code(0, "port", n)
		c.wantEq(r.Out(), "", "port output")
	}},
}
