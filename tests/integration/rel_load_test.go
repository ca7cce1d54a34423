package integration

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// A load run on a daemon of its own: N containers (BERTH_LOAD_N, default
// 100) created and started by 10 concurrent API clients onto a user
// network, all running at once, then stopped and removed. No request
// fails, the event stream carries every create, start, die and destroy
// exactly once, and afterwards nothing is left (monitors, bundles,
// mounts, cgroups, veths, netns, nft rules) and the daemon's memory is
// back near where it started. The 1000-container figures come from
// `make bench-load`.
func TestLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("BERTH_LOAD_N"))
	if n <= 0 {
		n = 100
	}
	o := newOwnDaemon(t)
	br := o.crashNetwork()
	res, err := testutil.RunLoad(context.Background(), o.d, testutil.LoadOptions{N: n, Clients: 10, Image: "busybox", Networks: []string{crashNet}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %s", res)
	for i, e := range res.Errors {
		if i == 10 {
			break
		}
		t.Errorf("request failed under load: %s", e)
	}
	if res.StartedConcurrently != n {
		t.Errorf("%d of %d containers were running at once", res.StartedConcurrently, n)
	}
	if len(res.MissingEvents) > 0 || len(res.ExtraEvents) > 0 {
		t.Errorf("event stream under load: missing %v, duplicated %v", head(res.MissingEvents, 10), head(res.ExtraEvents, 10))
	}
	if ids := lines(o.ok("ps", "-aq")); len(ids) != 0 {
		t.Errorf("%d containers left after the run", len(ids))
	}
	checkConsistent(t, o, br)
	// Go keeps some heap after a peak; a leak grows with N.
	if grown := res.RSSAfter - res.RSSBefore; grown > 100*1024 {
		t.Errorf("daemon RSS grew by %d kB over the run (%d → %d)", grown, res.RSSBefore, res.RSSAfter)
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
