package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/cluster"
	"github.com/berth-project/berth/tests/testutil"
)

// up on a host that lacks something stops before changing anything, says
// what to do, and leaves the daemon without a cluster. These need no
// Kubernetes binaries: the checks come before the build.
func TestClusterUpRefusesWhatIsMissing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cluster: needs root")
	}
	repo, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("/tmp", "bk")
	if err != nil {
		t.Fatal(err)
	}
	d, err := testutil.StartBerthdIn(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Shutdown(); err != nil {
			d.Kill()
		}
		testutil.RemoveDir(dir)
	})
	e := &env{t: t, d: d, bin: filepath.Join(testutil.BinDir(repo), "berth"), home: filepath.Join(dir, "home")}
	e.kcfg = filepath.Join(e.home, ".kube", "config")
	id := cluster.IdentityFor(d.Root)

	// A busy port is named, with what to do.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", id.Ports.APIServer))
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.run(ctx, e.bin, "cluster", "up")
	l.Close()
	if err == nil || !strings.Contains(out, fmt.Sprintf("port %d (kube-apiserver) is in use", id.Ports.APIServer)) {
		t.Fatalf("up with a busy port: %v\n%s", err, out)
	}

	// No CRI runtime on the endpoint.
	out, err = e.run(ctx, e.bin, "cluster", "up", "--runtime-endpoint", "unix://"+filepath.Join(dir, "nothing.sock"))
	if err == nil || !strings.Contains(out, "the container runtime does not answer on unix://"+filepath.Join(dir, "nothing.sock")) {
		t.Fatalf("up without a runtime: %v\n%s", err, out)
	}

	if out := e.must(ctx, e.bin, "cluster", "status"); !strings.Contains(out, "State:            down") {
		t.Fatalf("status after failed ups: %s", out)
	}
	if _, err := e.run(ctx, e.bin, "kubectl", "get", "nodes"); err == nil {
		t.Fatal("berth kubectl without a cluster succeeded")
	}
	// down after a failed up is fine and there is nothing to undo.
	e.must(ctx, e.bin, "cluster", "down")
	if _, err := os.Stat(filepath.Join(d.Root, "cluster")); err == nil {
		t.Fatal("a failed up left the cluster directory")
	}
	if _, err := os.Stat(e.kcfg); err == nil {
		t.Fatal("a failed up wrote the user's kubeconfig")
	}
	// Nothing of this cluster's is on the host (other tests may change
	// the host meanwhile, so only this cluster's names are looked for).
	if _, err := net.InterfaceByName(id.Bridge); err == nil {
		t.Fatalf("bridge %s left", id.Bridge)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*" + id.CgroupRoot); len(m) > 0 {
		t.Fatalf("cgroups left: %v", m)
	}
	for _, chain := range [][]string{{"-S", "FORWARD"}, {"-t", "nat", "-S", "POSTROUTING"}} {
		if out, _ := exec.Command("iptables", append([]string{"-w", "5"}, chain...)...).Output(); strings.Contains(string(out), "berth-cluster-"+id.Bridge) {
			t.Fatalf("iptables rules left:\n%s", out)
		}
	}
}
