package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// Network behaviour compared with dockerd: these run through the docker CLI
// against berthd, and against a real dockerd 20.10 with
// BERTH_TEST_TARGET=dockerd (its harness daemon has no default bridge and
// no iptables, so the rows that need those are berthd's).

func isBerthd() bool { return env.daemon.Target == testutil.TargetBerthd }

// pinned is the docker CLI at a fixed API version.
func (c *tcase) pinned(version string) *tcase {
	dr := c.dr
	dr.Env = append(append([]string{}, dr.Env...), "DOCKER_API_VERSION="+version)
	return &tcase{T: c.T, dr: dr, ctx: c.ctx}
}

// netCreate creates a network removed at cleanup and returns its name.
func (c *tcase) netCreate(prefix string, args ...string) string {
	c.Helper()
	n := c.name(prefix)
	c.ok(append(append([]string{"network", "create"}, args...), n)...)
	c.Cleanup(func() { c.run("network", "rm", n) })
	return n
}

// wantFail runs args, wanting exit 1 and stderr containing msg.
func (c *tcase) wantFail(msg string, args ...string) {
	c.Helper()
	r := c.run(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, msg) {
		c.Errorf("want failure %q: %s", msg, r)
	}
}

func TestNetworkCompat(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	nets := freeSubnets(t, 6)
	sub := func(i int, host byte) string {
		a := nets[i].Addr().As4()
		a[3] = host
		return netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))

	t.Run("refused-requests", func(t *testing.T) {
		c := newCase(t, c.dr)
		n := c.name("no")
		c.wantFail(`only one instance of "host" network is allowed`, "network", "create", "--driver", "host", n)
		c.wantFail(`only one instance of "null" network is allowed`, "network", "create", "--driver", "null", n)
		c.wantFail("Ingress network can only be global scope network", "network", "create", "--ingress", n)
		c.wantFail("cannot create a swarm scoped network when swarm is not active", "network", "create", "--scope", "swarm", n)
		c.wantFail("operation is not permitted on predefined bridge network", "network", "create", "bridge")
		c.wantFail(`failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "abc": invalid syntax)`,
			"network", "create", "-o", "com.docker.network.driver.mtu=abc", n)
		c.wantFail(`failed to parse com.docker.network.bridge.enable_icc value: maybe (strconv.ParseBool: parsing "maybe": invalid syntax)`,
			"network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", n)
		c.wantFail("failed to parse com.docker.network.bridge.host_binding_ipv4 value: abc (nil ip)",
			"network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=abc", n)
		c.wantFail("invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name", "network", "create", "--label", "=x", n)
		if r := c.run("network", "inspect", n); r.Code == 0 {
			c.Errorf("a refused create left network %s", n)
		}
	})

	t.Run("subnet-with-host-address", func(t *testing.T) {
		c := newCase(t, c.dr)
		// API 1.41 (dockerd 20.10's): accepted, shown as written.
		old := c.pinned("1.41")
		n := old.netCreate("hostbits", "--subnet", sub(0, 5))
		c.wantEq(c.ok("network", "inspect", "-f", "{{json .IPAM.Config}}", n), fmt.Sprintf(`[{"Subnet":"%s"}]`, sub(0, 5)), "IPAM config")
		if isBerthd() {
			out := c.ok("run", "--rm", "--network", n, "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route")
			c.wantContains(out, sub(0, 2), "container address from the masked subnet")
			c.wantContains(out, "default via "+strings.TrimSuffix(sub(0, 1), "/24"), "gateway is the first address")
			// API 1.44 and later: refused as dockerd 25+ refuses it.
			c.wantFail(fmt.Sprintf("invalid network config:\ninvalid subnet %s: it should be %s", sub(1, 7), nets[1]),
				"network", "create", "--subnet", sub(1, 7), c.name("hostbits"))
		}
		// An overlap is a 403 whose text clients match on.
		old.wantFail("Pool overlaps with other one on this address space", "network", "create", "--subnet", nets[0].String(), c.name("ovl"))
	})

	t.Run("inspect-fields", func(t *testing.T) {
		c := newCase(t, c.dr)
		n := c.netCreate("fields", "--internal", "--attachable", "--subnet", nets[2].String(),
			"--label", "a=b", "-o", "com.docker.network.driver.mtu=1400", "-o", "foo=bar")
		f := `{{.Scope}} {{.Driver}} {{.EnableIPv6}} {{.Internal}} {{.Attachable}} {{.Ingress}} {{.ConfigOnly}} ` +
			`{{json .ConfigFrom}} {{json .IPAM}} {{json .Options}} {{json .Labels}}`
		want := fmt.Sprintf(`local bridge false true true false false {"Network":""} `+
			`{"Driver":"default","Options":{},"Config":[{"Subnet":"%s"}]} `+
			`{"com.docker.network.driver.mtu":"1400","foo":"bar"} {"a":"b"}`, nets[2])
		c.wantEq(c.ok("network", "inspect", "-f", f, n), want, "inspect")
		// Internal: the gateway is still the default route (nothing
		// leaves through it); the MTU option reaches the container.
		out := c.ok("run", "--rm", "--network", n, "busybox", "sh", "-c", "ip route; cat /sys/class/net/eth0/mtu")
		c.wantContains(out, "default via "+nets[2].Addr().Next().String(), "internal network route")
		c.wantContains(out, "\n1400", "mtu")
	})

	t.Run("prune", func(t *testing.T) {
		c := newCase(t, c.dr)
		keep := c.netCreate("keep")
		gone := c.netCreate("gone", "--label", "fwprune="+keep)
		used := c.netCreate("used", "--label", "fwprune="+keep)
		c.ok("run", "-d", "--name", c.name("onnet"), "--network", used, "busybox", "sleep", "600")
		out := c.ok("network", "prune", "-f", "--filter", "label=fwprune="+keep)
		c.wantEq(out, "Deleted Networks:\n"+gone, "prune output")
		c.ok("network", "inspect", keep)
		c.ok("network", "inspect", used)
		// dockerd 20.10 says "Invalid filter", later ones "invalid filter".
		c.wantFail("nvalid filter 'foo'", "network", "prune", "-f", "--filter", "foo=bar")
	})

	t.Run("duplicate-name", func(t *testing.T) {
		c := newCase(t, c.dr)
		n := c.netCreate("dup")
		c.wantFail("network with name "+n+" already exists", "network", "create", n)
	})

	if !isBerthd() {
		return
	}
	t.Run("default-bridge-top-level-settings", func(t *testing.T) {
		c := newCase(t, c.dr)
		ctr := c.sleeper("top")
		f := "{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.Gateway}}|{{.NetworkSettings.IPPrefixLen}}|" +
			"{{.NetworkSettings.MacAddress}}|{{.NetworkSettings.EndpointID}}|{{.NetworkSettings.Bridge}}|{{.NetworkSettings.GlobalIPv6Address}}"
		g := "{{with .NetworkSettings.Networks.bridge}}{{.IPAddress}}|{{.Gateway}}|{{.IPPrefixLen}}|{{.MacAddress}}|{{.EndpointID}}{{end}}||"
		top := c.inspect(ctr, f)
		if strings.HasPrefix(top, "|") {
			c.Fatalf("no top-level IPAddress for a container on the default bridge: %q", top)
		}
		c.wantEq(top, c.inspect(ctr, g), "top-level fields are the default bridge endpoint's")
		// On a user network they stay empty, as in dockerd.
		user := c.sleeper("user", "--network", c.netCreate("topuser"))
		c.wantEq(c.inspect(user, f), "||0||||", "user network")
	})

	t.Run("driver-options", func(t *testing.T) {
		c := newCase(t, c.dr)
		// host_binding_ipv4 is the default host address of published ports.
		n := c.netCreate("bind", "--subnet", nets[3].String(), "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1")
		web := c.web("bind", "--network", n, "-p", "80")
		hp := c.ok("port", web, "80/tcp")
		c.wantContains(hp, "127.0.0.1:", "published on the network's binding address")
		c.wantEq(c.httpGet("http://"+strings.Split(hp, "\n")[0]+"/"), "hello-"+web, "published port")
		// enable_icc=false: containers on the bridge do not reach each other.
		iso := c.netCreate("noicc", "--subnet", nets[4].String(), "-o", "com.docker.network.bridge.enable_icc=false")
		srv := c.web("noicc", "--network", iso)
		ip := c.inspect(srv, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
		r := c.run("run", "--rm", "--network", iso, "busybox", "sh", "-c", fmt.Sprintf(ncGet, ip))
		if strings.Contains(r.Stdout, "hello-") {
			c.Errorf("enable_icc=false still lets containers talk: %s", r)
		}
		open := c.netCreate("icc", "--subnet", nets[5].String())
		srv2 := c.web("icc", "--network", open)
		ip2 := c.inspect(srv2, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
		c.wantEq(c.ok("run", "--rm", "--network", open, "busybox", "sh", "-c", fmt.Sprintf(ncGet, ip2)), "hello-"+srv2, "icc on")
	})
}
