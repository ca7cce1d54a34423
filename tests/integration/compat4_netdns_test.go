package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestConnectDNS follows a running container's network connect and
// disconnect into its /etc files, as dockerd does: joining its first
// user-defined network moves resolv.conf to the embedded DNS (dockerd's
// 127.0.0.11, berthd's DNS on the network's gateway; "options ndots:0" on
// both), so that network's names resolve, and /etc/hosts gains the new
// address; leaving it drops that address's line. A container on two user
// networks resolves both's names, and a resolv.conf edited inside the
// container is left alone (dockerd 28). Runs on both engines; where they part (after
// the last user network is left dockerd keeps 127.0.0.11, berthd goes
// back to the host's resolvers; dockerd 20.10 drops every line of the
// container's own on a disconnect, dockerd 28 only the left address's) the
// berthd side is what is asserted.
func TestConnectDNS(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	subs := freeSubnets(t, 2)
	n1 := c.netCreate("cdns1", "--subnet", subs[0].String())
	n2 := c.netCreate("cdns2", "--subnet", subs[1].String())
	run := func(prefix, nw string) string {
		n := c.name(prefix)
		c.ok("run", "-d", "--name", n, "--network", nw, "busybox", "sleep", "600")
		return n
	}
	// berthd's embedded DNS listens on the gateway of each user network.
	gateway := map[string]string{}
	embedded := func(nw string) string {
		if isBerthd() {
			return gateway[nw]
		}
		return "127.0.0.11"
	}
	nameservers := func(ctr string) []string {
		var out []string
		for _, l := range lines(c.ok("exec", ctr, "cat", "/etc/resolv.conf")) {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "nameserver" {
				out = append(out, f[1])
			}
		}
		return out
	}
	wantEmbedded := func(ctr, nw, what string) {
		c.Helper()
		rc := c.ok("exec", ctr, "cat", "/etc/resolv.conf")
		if ns := nameservers(ctr); len(ns) != 1 || ns[0] != embedded(nw) {
			c.Errorf("%s: nameservers %q, want the embedded DNS %s", what, ns, embedded(nw))
		}
		c.wantContains(rc, "options ndots:0", what)
	}
	wantHost := func(ctr, what string) {
		c.Helper()
		for _, ns := range nameservers(ctr) {
			if ns == "127.0.0.11" || ns == embedded(n1) || ns == embedded(n2) {
				c.Errorf("%s: nameserver %s is an embedded DNS", what, ns)
			}
		}
	}
	resolves := func(ctr, name, ip, what string) {
		c.Helper()
		out := c.ok("exec", ctr, "nslookup", name)
		c.wantContains(out, "Address: "+ip, what)
	}
	ipOn := func(ctr, nw string) string {
		return c.inspect(ctr, `{{(index .NetworkSettings.Networks "`+nw+`").IPAddress}}`)
	}
	hostsLines := func(ctr string) string { return c.ok("exec", ctr, "cat", "/etc/hosts") }

	b := run("cdnsb", n1)
	d := run("cdnsd", n2)
	bIP, dIP := ipOn(b, n1), ipOn(d, n2)
	gateway[n1] = c.inspect(b, `{{(index .NetworkSettings.Networks "`+n1+`").Gateway}}`)
	gateway[n2] = c.inspect(d, `{{(index .NetworkSettings.Networks "`+n2+`").Gateway}}`)

	// On the default bridge, then connected to a user network.
	a := run("cdnsa", "bridge")
	wantHost(a, "default bridge")
	aBridge := ipOn(a, "bridge")
	c.ok("network", "connect", n1, a)
	wantEmbedded(a, n1, "after connect")
	resolves(a, b, bIP, "a user network's name after connect")
	aN1 := ipOn(a, n1)
	hosts := hostsLines(a)
	hostname := c.inspect(a, "{{.Config.Hostname}}")
	c.wantContains(hosts, aBridge+"\t"+hostname, "hosts keeps the bridge address")
	c.wantContains(hosts, aN1+"\t"+hostname, "hosts gains the new address")
	// The other way round: the user network's container sees a by name.
	resolves(b, a, aN1, "the connected container from its new network")

	c.ok("network", "disconnect", n1, a)
	if strings.Contains(hostsLines(a), aN1+"\t") {
		c.Errorf("hosts keeps the left network's address %s:\n%s", aN1, hostsLines(a))
	}
	if isBerthd() {
		c.wantContains(hostsLines(a), aBridge+"\t"+hostname, "hosts keeps the bridge address after disconnect")
		wantHost(a, "after leaving the user network")
	} else {
		wantEmbedded(a, n1, "dockerd keeps its resolver")
	}
	if r := c.run("exec", a, "nslookup", b); r.Code == 0 && strings.Contains(r.Stdout, "Address: "+bIP) {
		c.Errorf("a left network's name still resolves: %s", r)
	}

	// On a user network, then connected to the default bridge and to a
	// second user network: both user networks' names resolve.
	e := run("cdnse", n1)
	wantEmbedded(e, n1, "user network")
	c.ok("network", "connect", "bridge", e)
	wantEmbedded(e, n1, "connected to the bridge")
	resolves(e, b, bIP, "its own network's name")
	c.ok("network", "connect", n2, e)
	resolves(e, d, dIP, "the second network's name")
	resolves(e, d+"."+n2, dIP, "name.network on the second network")
	c.ok("network", "disconnect", n1, e)
	resolves(e, d, dIP, "the second network's name after leaving the first")
	if isBerthd() {
		wantEmbedded(e, n2, "the second network's DNS after leaving the first")
		c.ok("network", "disconnect", n2, e)
		wantHost(e, "on the default bridge alone")
	}

	// Connected through docker-py: the same.
	if _, err := exec.LookPath(python3()); err == nil {
		f := run("cdnsf", "bridge")
		py := exec.Command(python3(), "-c", `
import os, docker
c = docker.DockerClient(base_url='unix://' + os.environ['SOCK'], version='auto')
c.networks.get(os.environ['NET']).connect(os.environ['CTR'])
`)
		py.Env = append(os.Environ(), "SOCK="+env.daemon.Sock, "NET="+n1, "CTR="+f)
		if out, err := py.CombinedOutput(); err != nil {
			t.Fatalf("docker-py connect: %v\n%s", err, out)
		}
		wantEmbedded(f, n1, "after docker-py's connect")
		resolves(f, b, bIP, "a user network's name after docker-py's connect")
	}

	// A resolv.conf edited inside the container stays as it is in dockerd
	// 28 (libnetwork's rebuildDNS leaves a file whose hash no longer
	// matches); dockerd 20.10 still rewrote it.
	if !isBerthd() {
		return
	}
	g := run("cdnsg", "bridge")
	c.ok("exec", g, "sh", "-c", "echo 'nameserver 192.0.2.53' > /etc/resolv.conf")
	c.ok("network", "connect", n1, g)
	c.wantEq(c.ok("exec", g, "cat", "/etc/resolv.conf"), "nameserver 192.0.2.53", "edited resolv.conf after connect")
}
