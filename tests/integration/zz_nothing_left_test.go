package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestZZNothingLeft runs last (files run in name order): once every
// container is removed, the daemon must hold no rootfs mounts, monitor
// processes, bundle dirs or container cgroups.
func TestZZNothingLeft(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	ctx := context.Background()
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	// A probe container tells us the cgroup parent before everything goes.
	c := newCase(t, dr)
	probeName := "zz-probe-" + randHex(4)
	c.ok(runArgs("-d", "--name", probeName, "busybox", "sleep", "600")...)
	probe := newLeftoverProbe(c, probeName)
	if ids := strings.Fields(dr.Run(ctx, nil, "ps", "-aq").Stdout); len(ids) > 0 {
		if r := dr.Run(ctx, nil, append([]string{"rm", "-f", "-v"}, ids...)...); r.Code != 0 {
			t.Fatalf("remove all: %s", r)
		}
	}
	var st map[string][]string
	deadline := time.Now().Add(15 * time.Second)
	for {
		st = probe.snapshot(c)
		if env.daemon.Target == testutil.TargetDockerd {
			// Every dockerd shares the /docker cgroup parent, so other
			// daemons' containers would show up here.
			delete(st, "cgroups")
		}
		if empty(st) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for k, v := range st {
		for _, item := range v {
			t.Errorf("left after removing every container: %s %s", k, item)
		}
	}
	t.Logf("checked mounts under %s, cgroup parents %v, monitors/bundles under %s",
		env.daemon.Root, probe.cgParents, filepath.Clean(env.daemon.Exec))
}

func empty(st map[string][]string) bool {
	for _, v := range st {
		if len(v) > 0 {
			return false
		}
	}
	return true
}
