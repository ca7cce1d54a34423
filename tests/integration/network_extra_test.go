package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

func TestNetworkExtras(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("needs the daemon's own bridge networking")
	}
	forEachDriver(t, networkExtraScenarios)
}

var networkExtraScenarios = []scenario{
	{"link-alias-and-fixed-ip", func(c *tcase) {
		nw := c.network("lk", "--subnet", "10.231.13.0/24")
		srv := c.web("lsrv", "--network", nw, "--ip", "10.231.13.77")
		c.wantEq(c.inspect(srv, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"), "10.231.13.77", "run --ip")
		out := c.ok("run", "--rm", "--network", nw, "--link", srv+":db", "busybox", "sh", "-c", fmt.Sprintf(ncGet, "db"))
		c.wantEq(out, "hello-"+srv, "--link name:alias")
		// The embedded DNS answers the alias too, but only to the container
		// that has the link (nslookup asks DNS, not /etc/hosts).
		c.wantContains(c.ok("run", "--rm", "--network", nw, "--link", srv+":db", "busybox", "nslookup", "db"),
			"10.231.13.77", "link alias in the embedded DNS")
		if r := c.run("run", "--rm", "--network", nw, "busybox", "nslookup", "db"); r.Code == 0 && strings.Contains(r.Stdout, "10.231.13.77") {
			c.Errorf("a container without the link resolved its alias: %s", r)
		}
	}},
	{"veth-goes-with-its-container", func(c *tcase) {
		// Containers that talked to each other are removed one after the
		// other; each one's host veth must be gone at once. (A namespace
		// that a left-over socket keeps alive, as compose down of the demo
		// app showed, no longer keeps its veth: the daemon deletes it too.)
		a := c.name("peer")
		c.ok("run", "-d", "--name", a, "busybox", "nc", "-l", "-p", "7777")
		ip := c.inspect(a, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
		b := c.name("linger")
		c.ok("run", "-d", "--name", b, "busybox", "sh", "-c",
			// A's nc may not listen yet when B starts (a loaded machine):
			// B tries again until it connects.
			"cat /sys/class/net/eth0/iflink; until (echo hello; sleep 600) | nc "+ip+" 7777 2>/dev/null; do sleep 0.2; done")
		c.eventually(20*time.Second, "B connected to A", func() bool { return strings.Contains(c.ok("logs", a), "hello") })
		idx := strings.TrimSpace(c.ok("logs", b))
		hostLink := func() bool {
			ents, _ := os.ReadDir("/sys/class/net")
			for _, e := range ents {
				if v, err := os.ReadFile(filepath.Join("/sys/class/net", e.Name(), "ifindex")); err == nil && strings.TrimSpace(string(v)) == idx {
					return true
				}
			}
			return false
		}
		if !hostLink() {
			c.Fatalf("no host link with index %q", idx)
		}
		c.ok("rm", "-f", a)
		c.ok("rm", "-f", b)
		c.eventually(10*time.Second, "B's host veth gone", func() bool { return !hostLink() })
	}},
	{"published-port-from-another-container", func(c *tcase) {
		p := freePort(c.T)
		srv := c.web("hp", "-p", fmt.Sprintf("%d:80", p))
		gw := c.inspect(srv, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}")
		script := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc %s %d | tail -n 1`, gw, p)
		c.wantEq(c.ok("run", "--rm", "busybox", "sh", "-c", script), "hello-"+srv, "hairpin through the host port")
	}},
	{"bad-network-input", func(c *tcase) {
		c.network("ov", "--subnet", "10.231.15.0/24")
		r := c.run("network", "create", "--subnet", "10.231.15.128/25", "ov2-"+randHex(3))
		// dockerd's words, which clients match on.
		if r.Code == 0 || !strings.Contains(r.Stderr, "Pool overlaps with other one on this address space") {
			c.Errorf("an overlapping subnet must fail as in dockerd: %s", r)
		}
		r = c.run("network", "create", "--subnet", "10.231.300.0/24", "bad-"+randHex(3))
		if r.Code == 0 || !strings.Contains(r.Stderr, "10.231.300.0/24") {
			c.Errorf("an invalid CIDR must fail naming it: %s", r)
		}
		r = c.run("run", "--rm", "-p", "99999:80", "busybox", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, "99999") {
			c.Errorf("an invalid port must fail naming it: %s", r)
		}
		// Like dockerd, an unknown network is a 404 at create, which the CLI
		// would take for a missing image and pull: --pull never shows it.
		r = c.run("run", "--rm", "--pull", "never", "--network", "no-such-net-"+randHex(3), "busybox", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
			c.Errorf("an unknown network must fail: %s", r)
		}
	}},
	{"image-volume-and-df", func(c *tcase) {
		img := c.image("volimg")
		src := c.name("vsrc")
		c.ok("run", "--name", src, "busybox", "sh", "-c", "mkdir -p /data && echo seeded > /data/f")
		c.ok("commit", "-c", "VOLUME /data", src, img)
		n := c.name("vuse")
		c.ok("run", "--name", n, img, "cat", "/data/f")
		vol := c.inspect(n, "{{range .Mounts}}{{.Type}}:{{.Name}}{{end}}")
		if !strings.HasPrefix(vol, "volume:") || len(vol) < 20 {
			c.Fatalf("image VOLUME did not make an anonymous volume: %q", vol)
		}
		c.wantContains(c.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}"), "Local Volumes", "df counts volumes")
	}},
}
