package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// Legacy links (`--link name:alias`) through the docker CLI. Every
// expectation here was taken from dockerd 20.10 with a default bridge
// (dockerd -b on a bridge of its own); the harness dockerd's default bridge
// is a private one without iptables, so the default-bridge rows run against
// berthd only.

// linkHosts is the /etc/hosts line a link gives: the alias, the child's
// hostname, and its name unless that is the alias.
func linkHosts(ip, alias, hostname, name string) string {
	if alias == name {
		return ip + "\t" + alias + " " + hostname
	}
	return ip + "\t" + alias + " " + hostname + " " + name
}

func TestLegacyLinks(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	if !isBerthd() {
		t.Skip("the harness dockerd's default bridge runs without iptables (checked by hand against dockerd -b)")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))

	t.Run("environment-and-hosts", func(t *testing.T) {
		c := newCase(t, c.dr)
		child := c.sleeper("lchild", "-e", "HOME=/x", "-e", "PATH=/bin", "-e", "lower=v", "-e", "EQ=a=b",
			"--expose", "53/udp", "--expose", "53", "--expose", "8000-8003", "--expose", "9000", "--expose", "7000/sctp")
		ip := c.inspect(child, "{{.NetworkSettings.Networks.bridge.IPAddress}}")
		host := c.inspect(child, "{{.Config.Hostname}}")
		parent := c.name("lparent")
		out := c.ok("run", "--rm", "--name", parent, "--link", child+":my-db", "-e", "MY_DB_ENV_lower=mine",
			"busybox", "sh", "-c", "env | grep ^MY_DB | sort; echo ---; cat /etc/hosts")
		envPart, hosts, _ := strings.Cut(out, "---\n")
		var want []string
		add := func(f string, a ...any) { want = append(want, fmt.Sprintf(f, a...)) }
		add("MY_DB_ENV_EQ=a=b")
		add("MY_DB_ENV_lower=mine") // the container's own variable wins
		add("MY_DB_NAME=/%s/my-db", parent)
		add("MY_DB_PORT=tcp://%s:53", ip)
		for _, p := range []struct {
			num   int
			proto string
		}{{53, "tcp"}, {53, "udp"}, {7000, "sctp"}, {8000, "tcp"}, {8001, "tcp"}, {8002, "tcp"}, {8003, "tcp"}, {9000, "tcp"}} {
			k := fmt.Sprintf("MY_DB_PORT_%d_%s", p.num, strings.ToUpper(p.proto))
			add("%s=%s://%s:%d", k, p.proto, ip, p.num)
			add("%s_ADDR=%s", k, ip)
			if p.num == 8000 {
				// Three or more consecutive ports also make a range.
				add("%s_END=tcp://%s:8003", k, ip)
			}
			add("%s_PORT=%d", k, p.num)
			if p.num == 8000 {
				add("%s_PORT_END=8003", k)
				add("%s_PORT_START=8000", k)
			}
			add("%s_PROTO=%s", k, p.proto)
			if p.num == 8000 {
				add("%s_START=tcp://%s:8000", k, ip)
			}
		}
		slices.Sort(want) // as `sort` prints them
		c.wantEq(strings.TrimSpace(envPart), strings.Join(want, "\n"), "link environment (no HOME or PATH of the child)")
		c.wantContains(hosts, "\n"+linkHosts(ip, "my-db", host, child)+"\n", "hosts line")
	})

	t.Run("names-inspect-rename", func(t *testing.T) {
		c := newCase(t, c.dr)
		child := c.sleeper("lc")
		parent := c.sleeper("lp", "--link", child+":k", "--link", child)
		c.wantEq(c.inspect(parent, "{{json .HostConfig.Links}}"),
			fmt.Sprintf(`["/%s:/%s/k","/%s:/%s/%s"]`, child, parent, child, parent, child), "HostConfig.Links")
		c.wantEq(c.inspect(parent+"/k", "{{.Name}}"), "/"+child, "a link name finds the child")
		c.wantEq(c.ok("ps", "--no-trunc", "--filter", "name="+child, "--format", "{{.Names}}"),
			fmt.Sprintf("%s,%s/k,%s/%s", child, parent, parent, child), "ps lists the link names, sorted")
		c.wantEq(c.ok("ps", "--filter", "name="+child, "--format", "{{.Names}}"), child, "ps without --no-trunc")
		newParent, newChild := c.name("lp2"), c.name("lc2")
		c.ok("rename", parent, newParent)
		c.ok("rename", child, newChild)
		c.wantEq(c.inspect(newParent, "{{json .HostConfig.Links}}"),
			fmt.Sprintf(`["/%s:/%s/k","/%s:/%s/%s"]`, newChild, newParent, newChild, newParent, child), "links after both renames")
		c.code(1, "inspect", parent+"/k")
	})

	t.Run("remove-link", func(t *testing.T) {
		c := newCase(t, c.dr)
		child := c.sleeper("rc")
		parent := c.sleeper("rp", "--link", child+":k", "--link", child)
		ip := c.inspect(child, "{{.NetworkSettings.Networks.bridge.IPAddress}}")
		host := c.inspect(child, "{{.Config.Hostname}}")
		c.wantContains(c.ok("exec", parent, "cat", "/etc/hosts"), linkHosts(ip, "k", host, child), "before")
		c.wantEq(c.ok("rm", "--link", parent+"/k"), parent+"/k", "rm --link output")
		c.wantEq(c.inspect(parent, "{{json .HostConfig.Links}}"), fmt.Sprintf(`["/%s:/%s/%s"]`, child, parent, child), "links after rm --link")
		hosts := c.ok("exec", parent, "sh", "-c", "cat /etc/hosts; env | grep -c ^K_ || true")
		if strings.Contains(hosts, "\tk ") || !strings.HasSuffix(hosts, "\n0") {
			c.Errorf("the removed link is still in the running parent's hosts or exec environment:\n%s", hosts)
		}
		c.wantContains(hosts, linkHosts(ip, child, host, child), "the other link stays")
		r := c.code(1, "rm", "--link", child)
		c.wantContains(r.Stderr, "Conflict, cannot remove the default link name of the container", "default name")
		r = c.code(1, "rm", "--link", parent+"/nosuch")
		c.wantContains(r.Stderr, "No such container: "+parent+"/nosuch", "missing link")
		c.wantEq(c.inspect(child, "{{.State.Running}}"), "true", "rm --link leaves the child running")
	})

	t.Run("child-not-running", func(t *testing.T) {
		c := newCase(t, c.dr)
		stopped := c.name("ls")
		c.ok("create", "--name", stopped, "busybox", "true")
		p := c.name("lf")
		r := c.code(125, "run", "--name", p, "--link", stopped+":x", "busybox", "true")
		c.wantContains(r.Stderr, fmt.Sprintf("Cannot link to a non running container: /%s AS /%s/x", stopped, p), "run")
		c.wantEq(c.inspect(p, "{{.State.Status}}"), "created", "the container stays created")

		child := c.sleeper("lr")
		parent := c.sleeper("lrp", "--link", child+":db")
		c.ok("stop", "-t", "0", child)
		msg := fmt.Sprintf("Cannot link to a non running container: /%s AS /%s/db", child, parent)
		r = c.code(1, "exec", parent, "true")
		c.wantContains(r.Stderr, msg, "exec with the child down")
		r = c.code(1, "restart", "-t", "0", parent)
		c.wantContains(r.Stderr, "Cannot restart container "+parent+": "+msg, "restart")
		// A removed child keeps its last name in the parent's links.
		gone := c.name("lgone")
		c.ok("rename", child, gone)
		c.ok("rm", gone)
		c.wantEq(c.inspect(parent, "{{json .HostConfig.Links}}"), fmt.Sprintf(`["/%s:/%s/db"]`, gone, parent), "links after the child is gone")
		r = c.code(1, "start", parent)
		c.wantContains(r.Stderr, fmt.Sprintf("Cannot link to a non running container: /%s AS /%s/db", gone, parent), "start")
	})

	t.Run("refused-at-create", func(t *testing.T) {
		c := newCase(t, c.dr)
		n := c.name("lno")
		r := c.code(125, "run", "--name", n, "--link", "nosuch-"+n+":x", "busybox", "true")
		c.wantContains(r.Stderr, "could not get container for nosuch-"+n+": No such container: nosuch-"+n, "missing child")
		hosty := c.sleeper("lhost", "--network", "host")
		r = c.code(125, "run", "--name", n, "--link", hosty+":h", "busybox", "true")
		c.wantContains(r.Stderr, "conflicting options: host type networking can't be used with links. This would result in undefined behavior", "host child")
		if r := c.run("inspect", n); r.Code == 0 {
			c.Errorf("a refused create left container %s", n)
		}
		r = c.code(125, "run", "--link", "a:b:c", "busybox", "true")
		c.wantContains(r.Stderr, "bad format for links: a:b:c", "format")
	})

	t.Run("user-network", func(t *testing.T) {
		c := newCase(t, c.dr)
		nets := freeSubnets(t, 1)
		net := c.netCreate("lnet", "--subnet", nets[0].String())
		target := c.sleeper("lw", "--network", net)
		ip := c.inspect(target, "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}")
		parent := c.sleeper("lu", "--network", net, "--link", target+":x")
		other := c.sleeper("lo", "--network", net)
		out := c.ok("exec", parent, "sh", "-c", "env | grep -c ^X_ || true; grep -c "+target+" /etc/hosts || true; nslookup x; nslookup x."+net)
		c.wantContains(out, "0\n0\n", "no link variables or hosts entries on a user network")
		if strings.Count(out, "Address: "+ip) != 2 {
			c.Errorf("the alias does not resolve (also with the network's name) to %s:\n%s", ip, out)
		}
		c.wantEq(c.ok("exec", other, "sh", "-c", "nslookup x >/dev/null && echo found || echo none"), "none", "the alias is the parent's alone")
		c.wantEq(c.inspect(parent, "{{json .HostConfig.Links}} {{json (index .NetworkSettings.Networks \""+net+"\").Links}}"),
			fmt.Sprintf(`null ["%s:x"]`, target), "inspect")
		r := c.code(1, "rm", "--link", parent+"/x")
		c.wantContains(r.Stderr, "No such container: "+parent+"/x", "no link name on a user network")
	})
}
