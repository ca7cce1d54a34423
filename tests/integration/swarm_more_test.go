package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwarmInitWithoutKubeBinaries: on a host whose Kubernetes binary cache
// is empty, swarm init refuses at once and says to run `make kube`, instead
// of starting a ten-minute build inside the request; it builds nothing,
// writes nothing to the cache and leaves the node out of any swarm.
func TestSwarmInitWithoutKubeBinaries(t *testing.T) {
	cache := t.TempDir()
	// berthd hands its environment to the build script it embeds.
	t.Setenv("BERTH_KUBE_CACHE", cache)
	d, dr := swarmDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := runLong(ctx, dr, "swarm", "init")
	if ctx.Err() != nil {
		t.Fatalf("swarm init did not come back within a minute: %s", r)
	}
	if r.Code != 1 || !strings.Contains(r.Stderr, "the Kubernetes binaries are not built on this host") || !strings.Contains(r.Stderr, "run `make kube`") {
		t.Fatalf("swarm init: %s", r)
	}
	if !strings.Contains(r.Stderr, "kubelet") {
		t.Errorf("the message does not name the missing binaries: %s", r.Stderr)
	}
	if r := dr.Run(context.Background(), nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after the refusal: %s", r)
	}
	waitNoFrontEnd(t, d)
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the check wrote into the cache: %v", entries)
	}
	for _, p := range []string{filepath.Join(d.Root, "swarm", "state.json"), filepath.Join(d.Root, "cluster")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
}
