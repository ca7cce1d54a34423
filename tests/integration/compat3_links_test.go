package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestLinkUpdates: a linked child that starts again with another address
// is followed in its running parents' /etc/hosts (the alias's line gets the
// new address, as dockerd's update does), and `network connect --link`
// gives a container a link on a user network: a DNS alias of its own,
// shown in inspect.
func TestLinkUpdates(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))

	t.Run("child-new-address", func(t *testing.T) {
		if !isBerthd() {
			t.Skip("the harness dockerd's default bridge runs without iptables (checked by hand against dockerd -b)")
		}
		c := newCase(t, c.dr)
		child := c.sleeper("luc")
		ipOf := func(n string) string { return c.inspect(n, "{{.NetworkSettings.Networks.bridge.IPAddress}}") }
		old := ipOf(child)
		parent := c.sleeper("lup", "--link", child+":db")
		host := c.inspect(child, "{{.Config.Hostname}}")
		c.wantContains(c.ok("exec", parent, "cat", "/etc/hosts"), linkHosts(old, "db", host, child), "entry before")
		// The child's address goes to another container while it is down.
		c.ok("stop", "-t", "0", child)
		taker := c.sleeper("lut")
		if ipOf(taker) != old {
			t.Logf("the stopped child's address %s went elsewhere; %s got %s", old, taker, ipOf(taker))
		}
		c.ok("start", child)
		now := ipOf(child)
		if now == old {
			t.Fatalf("the child came back with its old address %s; the test needs a new one", old)
		}
		want := linkHosts(now, "db", host, child)
		var hosts string
		deadline := time.Now().Add(10 * time.Second)
		for {
			hosts = c.ok("exec", parent, "cat", "/etc/hosts")
			if strings.Contains(hosts, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.wantContains(hosts, want, "the parent's entry follows the child")
		if strings.Contains(hosts, old+"\tdb ") {
			t.Errorf("the old address stays for the alias:\n%s", hosts)
		}
		c.wantContains(hosts, ipOf(parent)+"\t"+c.inspect(parent, "{{.Config.Hostname}}"), "the parent's own line stays")
	})

	t.Run("network-connect-link", func(t *testing.T) {
		c := newCase(t, c.dr)
		nets := freeSubnets(t, 2)
		home := c.netCreate("lch", "--subnet", nets[0].String())
		net := c.netCreate("lcn", "--subnet", nets[1].String())
		on := func(prefix, nw string) string {
			n := c.name(prefix)
			c.ok("run", "-d", "--name", n, "--network", nw, "busybox", "sleep", "600")
			return n
		}
		target := on("lct", net)
		ip := c.inspect(target, fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, net))
		ctr := on("lcc", home)
		c.ok("network", "connect", "--link", target+":dbx", net, ctr)
		other := on("lco", net)
		c.wantEq(c.inspect(ctr, fmt.Sprintf(`{{json (index .NetworkSettings.Networks %q).Links}} {{json (index .NetworkSettings.Networks %q).Links}} {{json .HostConfig.Links}}`, net, home)),
			fmt.Sprintf(`["%s:dbx"] null null`, target), "inspect shows the link on its network")
		out := c.ok("exec", ctr, "nslookup", "dbx")
		c.wantContains(out, "Address: "+ip, "the alias resolves")
		c.wantEq(c.ok("exec", other, "sh", "-c", "nslookup dbx >/dev/null && echo found || echo none"), "none", "the alias is the container's alone")

	})
}
