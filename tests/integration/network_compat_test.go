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
// BERTH_TEST_TARGET=dockerd (its harness daemon has a private default bridge
// and no iptables, so the rows that need those are berthd's).

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
	// Every network gets its own subnet: none collides with a host route
	// or with dockerd's 172.17.0.0/16 (whose docker0 route may be gone).
	nets := freeSubnets(t, 11)
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
		keep := c.netCreate("keep", "--subnet", nets[6].String())
		gone := c.netCreate("gone", "--subnet", nets[7].String(), "--label", "fwprune="+keep)
		used := c.netCreate("used", "--subnet", nets[8].String(), "--label", "fwprune="+keep)
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
		n := c.netCreate("dup", "--subnet", nets[9].String())
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
		user := c.sleeper("user", "--network", c.netCreate("topuser", "--subnet", nets[10].String()))
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

// TestNetworkIPv6: an EnableIPv6 network with a v6 subnet gives containers
// a v6 address (sequential, or --ip6), the v6 gateway as default route,
// --link-local-ip addresses, the inspect fields dockerd fills, AAAA
// answers from the embedded DNS, and v6 traffic between containers and
// from the host.
func TestNetworkIPv6(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	v4 := freeSubnets(t, 1)[0]
	// The group is written as the kernel and dockerd print it, with no
	// leading zero (a random "0f8e" came back as "f8e" and failed CI).
	base := "fd00:b3:" + strings.TrimLeft(randHex(2), "0")
	if strings.HasSuffix(base, ":") {
		base += "1"
	}
	v6 := base + ":1::/64"
	prefix := base + ":1::"
	c.wantFail("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
		"network", "create", "--ipv6", c.name("nov6"))
	n := c.netCreate("v6", "--ipv6", "--subnet", v4.String(), "--subnet", v6)
	c.wantEq(c.ok("network", "inspect", "-f", "{{.EnableIPv6}} {{json .IPAM.Config}}", n),
		fmt.Sprintf(`true [{"Subnet":"%s"},{"Subnet":"%s"}]`, v4, v6), "network inspect")
	c.wantFail("Pool overlaps with other one on this address space", "network", "create", "--ipv6", "--subnet", base+":1:8000::/80", c.name("ov6"))

	srv := c.name("v6srv")
	c.ok("run", "-d", "--name", srv, "--network", n, "--ip6", prefix+"99", "--link-local-ip", "169.254.9.9",
		"--link-local-ip", "fe80::9", "busybox", "sh", "-c",
		"mkdir -p /www && echo hello-v6 > /www/index.html && exec httpd -f -p [::]:80 -h /www")
	f := `{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{json .IPAMConfig}}{{end}}`
	c.wantEq(c.inspect(srv, f), fmt.Sprintf(`%s99 64 %s1 {"IPv6Address":"%s99","LinkLocalIPs":["169.254.9.9","fe80::9"]}`, prefix, prefix, prefix), "endpoint")
	c.wantContains(c.ok("network", "inspect", "-f", "{{range .Containers}}{{.IPv6Address}}{{end}}", n), prefix+"99/64", "network's containers")
	out := c.ok("exec", srv, "sh", "-c", "ip -o addr show eth0; ip -6 route")
	for _, want := range []string{"inet 169.254.9.9/16", "inet6 " + prefix + "99/64", "inet6 fe80::9/64", "default via " + prefix + "1"} {
		c.wantContains(out, want, "inside the container")
	}
	// The next container gets the first free address.
	script := fmt.Sprintf(`ip -6 -o addr show eth0 scope global; for i in 1 2 3 4 5; do wget -q -O - "http://[%s99]:80/" && break; sleep 0.3; done; nslookup -type=AAAA %s`, prefix, srv)
	if !isBerthd() {
		script = fmt.Sprintf(`ip -6 -o addr show eth0 scope global; for i in 1 2 3 4 5; do wget -q -O - "http://[%s99]:80/" && break; sleep 0.3; done`, prefix)
	}
	out = c.ok("run", "--rm", "--network", n, "busybox", "sh", "-c", script)
	c.wantContains(out, "inet6 "+prefix+"2/64", "sequential address")
	c.wantContains(out, "hello-v6", "container to container over IPv6")
	if isBerthd() {
		c.wantContains(out, "Address: "+prefix+"99", "AAAA from the embedded DNS")
		c.wantEq(c.httpGet("http://["+prefix+"99]:80/"), "hello-v6", "host to container over IPv6")
	}
	if isBerthd() {
		// An internal IPv6 network: nothing is forwarded out of it, v6
		// included (the harness's dockerd runs without ip6tables).
		in := c.netCreate("v6int", "--internal", "--ipv6", "--subnet", freeSubnets(t, 2)[1].String(), "--subnet", base+":3::/64")
		r := c.run("run", "--rm", "--network", in, "busybox", "sh", "-c",
			fmt.Sprintf(`ip -6 route; timeout 5 wget -q -O - "http://[%s99]:80/"`, prefix))
		c.wantContains(r.Stdout, "default via "+base+":3::1", "internal network keeps its v6 gateway route")
		if strings.Contains(r.Stdout, "hello-v6") {
			c.Errorf("an internal network's container reached another network over IPv6: %s", r)
		}
	}
	c.wantFail("Invalid address "+base+":2::99: It does not belong to any of this network's subnets",
		"run", "--rm", "--network", n, "--ip6", base+":2::99", "busybox", "true")
	c.wantFail("invalid link local IP address: 10.1.1.1", "run", "--rm", "--network", n, "--link-local-ip", "10.1.1.1", "busybox", "true")
}
