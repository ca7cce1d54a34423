package integration

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMisc(t *testing.T) { forEachDriver(t, miscScenarios) }

var miscScenarios = []scenario{
	{"cp-both-ways", func(c *tcase) {
		n := c.sleeper("cp")
		dir := c.tempDir()
		src := c.writeFile(dir, "hostfile", "to-container")
		c.ok("cp", src, n+":/tmp/")
		c.wantEq(c.ok("exec", n, "cat", "/tmp/hostfile"), "to-container", "cp host→container")
		c.ok("exec", n, "sh", "-c", "mkdir -p /out/sub && echo from-container > /out/sub/f")
		c.ok("cp", n+":/out", dir)
		b, err := os.ReadFile(filepath.Join(dir, "out", "sub", "f"))
		if err != nil || string(b) != "from-container\n" {
			c.Errorf("cp container→host dir: %q %v", b, err)
		}
	}},
	{"cp-tar-streams", func(c *tcase) {
		n := c.sleeper("cpt")
		r := c.run("cp", n+":/etc/group", "-")
		if r.Code != 0 {
			c.Fatalf("cp to -: %s", r)
		}
		tr := tar.NewReader(strings.NewReader(r.Stdout))
		h, err := tr.Next()
		if err != nil || h.Name != "group" {
			c.Fatalf("cp - should stream a tar with 'group': %v %+v", err, h)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "streamed.txt", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
		tw.Write([]byte("abc"))
		tw.Close()
		r = c.dr.Run(c.ctx, &buf, "cp", "-", n+":/tmp")
		if r.Code != 0 {
			c.Fatalf("cp from -: %s", r)
		}
		c.wantEq(c.ok("exec", n, "cat", "/tmp/streamed.txt"), "abc", "tar extracted in container")
	}},
	{"diff", func(c *tcase) {
		n := c.name("diff")
		c.ok(runArgs("--name", n, "busybox", "sh", "-c", "touch /tmp/newfile; rm /etc/group")...)
		out := c.ok("diff", n)
		for _, want := range []string{"C /tmp", "A /tmp/newfile", "C /etc", "D /etc/group"} {
			c.wantContains(out, want, "diff")
		}
	}},
	{"export", func(c *tcase) {
		n := c.name("exp")
		c.ok(runArgs("--name", n, "busybox", "touch", "/exported-marker")...)
		f := filepath.Join(c.tempDir(), "fs.tar")
		c.ok("export", "-o", f, n)
		fh, err := os.Open(f)
		if err != nil {
			c.Fatal(err)
		}
		defer fh.Close()
		names := tarNames(c, fh)
		for _, want := range []string{"bin/busybox", "etc/passwd", "exported-marker"} {
			if !hasName(names, want) {
				c.Errorf("export lacks %s (%d entries)", want, len(names))
			}
		}
	}},
	{"events-window", func(c *tcase) {
		since := time.Now().Add(-time.Second)
		n := c.name("ev")
		c.ok(runArgs("--rm", "--name", n, "busybox", "true")...)
		until := time.Now().Add(time.Second)
		time.Sleep(1100 * time.Millisecond) // the until bound must be in the past to return
		out := c.ok("events", "--since", since.Format(time.RFC3339Nano), "--until", until.Format(time.RFC3339Nano),
			"-f", "container="+n, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
		for _, a := range []string{"create", "start", "die", "destroy"} {
			c.wantContains(out, "container "+a+" "+n, "events")
		}
		early := since.Add(-time.Hour)
		if out := c.ok("events", "--since", early.Format(time.RFC3339), "--until", early.Add(time.Minute).Format(time.RFC3339),
			"-f", "container="+n); out != "" {
			c.Errorf("window before the container should be empty: %q", out)
		}
	}},
	{"container-prune", func(c *tcase) {
		label := "prune=" + randHex(4)
		a := c.name("pra")
		c.ok(runArgs("--name", a, "-l", label, "busybox", "true")...)
		keep := c.sleeper("prk", "-l", label)
		id := c.inspect(a, "{{.Id}}")
		out := c.ok("container", "prune", "-f", "--filter", "label="+label)
		c.wantContains(out, "Deleted Containers:", "prune output")
		c.wantContains(out, id, "pruned id")
		c.wantContains(out, "Total reclaimed space:", "prune output")
		c.wantEq(c.ok("ps", "-a", "-f", "label="+label, "--format", "{{.Names}}"), keep, "running container kept")
	}},
	{"system-df", func(c *tcase) {
		c.sleeper("df")
		out := c.ok("system", "df")
		ls := lines(out)
		if len(ls) < 4 {
			c.Fatalf("system df:\n%s", out)
		}
		for _, h := range []string{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"} {
			c.wantContains(ls[0], h, "df header")
		}
		for _, row := range []string{"Images", "Containers", "Local Volumes", "Build Cache"} {
			c.wantContains(out, row, "df rows")
		}
		c.wantContains(c.ok("system", "df", "-v"), "busybox", "df -v lists images")
	}},
}
