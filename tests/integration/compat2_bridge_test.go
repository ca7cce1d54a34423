package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/tests/testutil"
)

// bridgeNoneChecks is what a daemon started with --bridge none shows, the
// same for berthd and for dockerd 20.10.
func bridgeNoneChecks(c *tcase) {
	c.Helper()
	for _, n := range lines(c.ok("network", "ls", "--format", "{{.Name}}")) {
		if n == "bridge" {
			c.Errorf("a bridge network is listed")
		}
	}
	r := c.code(1, "network", "inspect", "bridge")
	c.wantContains(r.Stderr, "network bridge not found", "inspect bridge")
	// The default mode still runs, with loopback alone.
	ctr := c.name("nobr")
	c.ok("run", "-d", "--name", ctr, "busybox", "sleep", "600")
	c.wantEq(c.ok("exec", ctr, "sh", "-c", "ls /sys/class/net"), "lo", "interfaces")
	c.wantEq(c.inspect(ctr, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}"), "bridge=;", "endpoints shown")
	c.wantEq(c.ok("exec", ctr, "sh", "-c", "grep -c $(hostname) /etc/hosts || true"), "0", "no address line in /etc/hosts")
	// User-defined networks are not affected.
	net := c.netCreate("nbu", "--subnet", freeSubnets(c.T, 1)[0].String())
	c.wantContains(c.ok("run", "--rm", "--network", net, "busybox", "ls", "/sys/class/net"), "eth0", "user network")
}

func TestBridgeNone(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	if env.daemon.Target == testutil.TargetDockerd {
		// The harness's dockerd has a bridge of its own, so the checks run
		// on a second one started with --bridge none in a network
		// namespace of its own: dockerd deletes the link named docker0 as
		// it starts so, and there that is not the host's.
		ns := filepath.Join(t.TempDir(), "netns")
		if err := bridge.NewNetNS(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bridge.DeleteNetNS(ns) })
		d, err := testutil.StartDockerdInNetNS(context.Background(), ns, "--bridge", "none")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := d.Stop(); err != nil {
				t.Errorf("stop the --bridge none dockerd: %v", err)
			}
		})
		dr := testutil.DockerDriver(d, env.cfgDir)
		if r := dr.Run(context.Background(), strings.NewReader(string(env.tarData)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
			t.Fatalf("import: %s", r)
		}
		bridgeNoneChecks(newCase(t, dr))
		return
	}
	o := newOwnDaemon(t)
	br, _ := network.DefaultNames(o.d.Root)
	if !bridge.Exists(br) {
		t.Fatalf("no default bridge %s without --bridge none", br)
	}
	o.ok("run", "-d", "--name", "before", "busybox", "sleep", "600")
	o.ok("stop", "-t", "0", "before")
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// The same data root with --bridge none: the bridge and its network go.
	o.start("--bridge", "none")
	if bridge.Exists(br) {
		t.Errorf("bridge %s still there with --bridge none", br)
	}
	bridgeNoneChecks(newCase(t, o.dr))
	// A container made with the bridge runs on loopback now.
	o.ok("start", "before")
	if got := o.ok("exec", "before", "ls", "/sys/class/net"); got != "lo" {
		t.Errorf("container made before: interfaces %q", got)
	}
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// daemon.json "bridge": "none" is the same.
	cfg := filepath.Join(o.dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte(`{"bridge": "none"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o.start("--config-file", cfg)
	if r := o.dr.Run(context.Background(), nil, "network", "inspect", "bridge"); r.Code == 0 {
		t.Errorf("daemon.json bridge none: the bridge network exists")
	}
	if bridge.Exists(br) {
		t.Errorf("daemon.json bridge none: bridge %s exists", br)
	}
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Back without it: the default bridge is made again.
	o.start()
	if got := o.ok("run", "--rm", "busybox", "ls", "/sys/class/net"); !strings.Contains(got, "eth0") {
		t.Errorf("default bridge not back: %q", got)
	}
	// The container made on the first bridge joins the new one.
	o.ok("stop", "-t", "0", "before")
	o.ok("start", "before")
	if got := o.ok("exec", "before", "ls", "/sys/class/net"); !strings.Contains(got, "eth0") {
		t.Errorf("container made before, bridge back: %q", got)
	}
}

// -b with --bip is refused as dockerd refuses it; -b naming a bridge of
// the admin's is not supported and says so.
func TestBridgeFlagRefused(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd's own flags")
	}
	repo, _ := testutil.RepoRoot()
	bin := filepath.Join(testutil.BinDir(repo), "berthd")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bridge", "none", "--bip", "10.231.99.1/24"}, "You specified -b & --bip, mutually exclusive options. Please specify only one"},
		{[]string{"-b", "mybr0"}, `-b mybr0: only "none" is supported`},
	} {
		dir := t.TempDir()
		args := append([]string{"--data-root", filepath.Join(dir, "d"), "--exec-root", filepath.Join(dir, "e"),
			"-H", "unix://" + filepath.Join(dir, "s.sock"), "--pidfile", filepath.Join(dir, "p.pid")}, tt.args...)
		out, err := berthdMustRefuse(t, bin, args...)
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: %v: %s", tt.args, err, out)
		}
		if m, _ := testutil.MountsUnder(dir); len(m) > 0 {
			t.Errorf("refused start left mounts: %v", m)
		}
	}
}
