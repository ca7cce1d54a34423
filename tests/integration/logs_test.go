package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogs(t *testing.T) { forEachDriver(t, logsScenarios) }

var logsScenarios = []scenario{
	{"tail-and-timestamps", func(c *tcase) {
		n := c.detached("logs", nil, "sh", "-c", "echo err >&2; sleep 0.3; for i in 1 2 3 4 5; do echo line$i; done")
		c.waitExit(n)
		r := c.run("logs", n)
		c.wantEq(strings.TrimSpace(r.Stdout), "line1\nline2\nline3\nline4\nline5", "stdout stream")
		c.wantEq(strings.TrimSpace(r.Stderr), "err", "stderr stream kept apart")
		c.wantEq(c.ok("logs", "--tail", "2", n), "line4\nline5", "--tail 2")
		ts := lines(c.ok("logs", "-t", n))
		if len(ts) != 5 {
			c.Fatalf("want 5 stdout lines with -t: %q", ts)
		}
		for _, l := range ts {
			stamp, _, _ := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil {
				c.Errorf("-t line %q: %v", l, err)
			}
		}
	}},
	{"since-until", func(c *tcase) {
		n := c.detached("logsu", nil, "sh", "-c", "echo early; sleep 2; echo late")
		c.waitExit(n)
		first := lines(c.ok("logs", "-t", n))
		if len(first) != 2 {
			c.Fatalf("want 2 lines: %q", first)
		}
		stamp, _, _ := strings.Cut(first[0], " ")
		t0, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			c.Fatal(err)
		}
		mid := t0.Add(time.Second).UTC().Format(time.RFC3339Nano)
		c.wantEq(c.ok("logs", "--since", mid, n), "late", "--since")
		c.wantEq(c.ok("logs", "--until", mid, n), "early", "--until")
		c.wantEq(c.ok("logs", "--since", "1h", n), "early\nlate", "--since relative")
	}},
	{"follow", func(c *tcase) {
		n := c.detached("logsf", nil, "sh", "-c", "echo first; sleep 2; echo second")
		start := time.Now()
		c.wantEq(c.ok("logs", "-f", n), "first\nsecond", "logs -f waits for the end")
		if time.Since(start) < time.Second {
			c.Error("logs -f returned before the container finished")
		}
	}},
	{"rotation", func(c *tcase) {
		n := c.detached("logsr", []string{"--log-opt", "max-size=10k", "--log-opt", "max-file=2"},
			"sh", "-c", `i=0; while [ $i -lt 2000 ]; do echo "line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done`)
		c.waitExit(n)
		logPath := c.inspect(n, "{{.LogPath}}")
		if logPath == "" {
			c.Fatal("empty LogPath")
		}
		ents, err := os.ReadDir(filepath.Dir(logPath))
		if err != nil {
			c.Fatal(err)
		}
		base := filepath.Base(logPath)
		var got []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), base) {
				got = append(got, e.Name())
				fi, _ := e.Info()
				if fi.Size() > 12*1024 {
					c.Errorf("%s is %d bytes, over max-size", e.Name(), fi.Size())
				}
			}
		}
		if strings.Join(got, ",") != base+","+base+".1" {
			c.Errorf("want exactly %s and %s.1 (max-file=2), got %v", base, base, got)
		}
		out := append([]string{""}, lines(c.ok("logs", n))...)
		if last := out[len(out)-1]; last != "line-1999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" || len(out) > 2000 {
			c.Errorf("logs after rotation: %d lines, last %q", len(out)-1, last)
		}
	}},
}
