package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) { forEachDriver(t, runScenarios) }

var runScenarios = []scenario{
	{"output", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "busybox", "echo", "hello world")...), "hello world", "stdout")
	}},
	{"exit-code", func(c *tcase) {
		c.code(3, runArgs("--rm", "busybox", "sh", "-c", "exit 3")...)
	}},
	{"stdin-piped", func(c *tcase) {
		r := c.runIn("hi\nthere\n", runArgs("-i", "--rm", "busybox", "cat")...)
		if r.Code != 0 || r.Stdout != "hi\nthere\n" {
			c.Fatalf("want echo of stdin: %s", r)
		}
	}},
	{"env-and-env-file", func(c *tcase) {
		f := c.writeFile(c.tempDir(), "env", "# comment\nB=from-file\nC=c c\n")
		out := c.ok(runArgs("--rm", "-e", "A=1", "--env-file", f, "busybox", "sh", "-c", `echo "$A|$B|$C"`)...)
		c.wantEq(out, "1|from-file|c c", "env")
	}},
	{"workdir", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "-w", "/tmp", "busybox", "pwd")...), "/tmp", "-w existing")
		// Docker creates a missing working directory.
		c.wantEq(c.ok(runArgs("--rm", "-w", "/new/dir", "busybox", "pwd")...), "/new/dir", "-w created")
	}},
	{"user", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "-u", "app", "busybox", "id", "-u")...), "1000", "-u name")
		c.wantEq(c.ok(runArgs("--rm", "-u", "65534:65534", "busybox", "id")...),
			"uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", "-u uid:gid")
		c.wantEq(c.ok(runArgs("--rm", "-u", "1234", "busybox", "id", "-u")...), "1234", "-u unknown uid")
	}},
	{"name", func(c *tcase) {
		n := c.name("named")
		c.ok(runArgs("--name", n, "busybox", "true")...)
		c.wantEq(c.inspect(n, "{{.Name}}"), "/"+n, "inspect .Name")
	}},
	{"entrypoint", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint")...), "from entrypoint", "entrypoint")
	}},
	{"hostname", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "-h", "myhost", "busybox", "hostname")...), "myhost", "-h")
	}},
	{"labels", func(c *tcase) {
		n := c.name("lbl")
		c.ok(createArgs("--name", n, "-l", "a=b", "--label", "c=d e", "busybox")...)
		c.wantEq(c.inspect(n, `{{index .Config.Labels "a"}}|{{index .Config.Labels "c"}}`), "b|d e", "labels")
	}},
	{"pid-namespace", func(c *tcase) {
		c.wantEq(c.ok(runArgs("--rm", "busybox", "sh", "-c", "echo $$")...), "1", "shell pid")
		out := c.ok(runArgs("--rm", "busybox", "ps", "-o", "pid,args")...)
		ls := lines(out)
		if len(ls) != 2 {
			c.Fatalf("want header + one process in own pid ns, got:\n%s", out)
		}
		f := strings.Fields(ls[1])
		if len(f) < 2 || f[0] != "1" || f[1] != "ps" {
			c.Errorf("pid 1 should be ps: %q", ls[1])
		}
	}},
	{"bind-volume", func(c *tcase) {
		dir := c.tempDir()
		c.writeFile(dir, "in", "from-host")
		c.wantEq(c.ok(runArgs("--rm", "-v", dir+":/data", "busybox", "sh", "-c", "cat /data/in; echo out > /data/out")...), "from-host", "read")
		b, err := os.ReadFile(filepath.Join(dir, "out"))
		if err != nil || string(b) != "out\n" {
			c.Errorf("container write not on host: %q %v", b, err)
		}
	}},
	{"bind-volume-ro", func(c *tcase) {
		dir := c.tempDir()
		r := c.run(runArgs("--rm", "-v", dir+":/data:ro", "busybox", "touch", "/data/x")...)
		if r.Code == 0 {
			c.Fatalf("write to :ro succeeded: %s", r)
		}
		c.wantContains(r.Stderr, "Read-only file system", "stderr")
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			c.Error("file created through a read-only bind")
		}
	}},
	{"mount-bind-and-tmpfs", func(c *tcase) {
		dir := c.tempDir()
		c.writeFile(dir, "f", "mounted")
		out := c.ok(runArgs("--rm", "--mount", "type=bind,source="+dir+",target=/m,readonly",
			"--mount", "type=tmpfs,destination=/scratch", "busybox", "sh", "-c",
			"cat /m/f; echo; grep ' /scratch ' /proc/mounts; touch /scratch/ok && echo tmpfs-writable")...)
		c.wantContains(out, "mounted", "bind content")
		c.wantContains(out, "tmpfs /scratch tmpfs", "tmpfs in /proc/mounts")
		c.wantContains(out, "tmpfs-writable", "tmpfs write")
	}},
	{"read-only-rootfs", func(c *tcase) {
		r := c.run(runArgs("--rm", "--read-only", "busybox", "touch", "/x")...)
		if r.Code == 0 {
			c.Fatalf("touch / on --read-only succeeded: %s", r)
		}
		c.wantContains(r.Stderr, "Read-only file system", "stderr")
	}},
}

func TestRunDetach(t *testing.T) {
	forEachDriver(t, []scenario{
		{"detach-prints-id", func(c *tcase) {
			n := c.name("det")
			id := c.ok(runArgs("-d", "--name", n, "busybox", "true")...)
			if len(id) != 64 {
				c.Errorf("run -d should print the 64-char id, got %q", id)
			}
			c.wantEq(c.inspect(n, "{{.Id}}"), id, "id")
		}},
	})
}
