package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/tests/testutil"
)

// Network scenarios, on dockerd too: the harness's dockerd (--iptables=false
// on a private bridge) publishes ports through docker-proxy, and the harness
// lets its containers reach each other on a bridge (testutil's dockerdICC).
func TestNetworks(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	forEachDriver(t, networkScenarios)
}

// web starts busybox httpd serving "hello-<name>" on port 80.
func (c *tcase) web(prefix string, extra ...string) string {
	c.Helper()
	n := c.name(prefix)
	script := fmt.Sprintf("mkdir -p /www && echo hello-%s > /www/index.html && exec httpd -f -p 80 -h /www", n)
	c.ok(append(append([]string{"run", "-d", "--name", n}, extra...), "busybox", "sh", "-c", script)...)
	return n
}

func (c *tcase) network(prefix string, extra ...string) string {
	c.Helper()
	n := prefix + "-" + c.dr.Name + "-" + randHex(4)
	c.ok(append(append([]string{"network", "create"}, extra...), n)...)
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "network", "rm", n) })
	return n
}

// httpGet fetches url from the host, retrying while the server starts:
// for up to 30 s, not a count of tries (50 refused tries took 5 s, which a
// container's start can outlast on a loaded machine).
func (c *tcase) httpGet(url string) string {
	c.Helper()
	cl := &http.Client{Timeout: 2 * time.Second}
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		resp, err := cl.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(b))
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	c.Fatalf("GET %s: %v", url, last)
	return ""
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const ncGet = `printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc %s 80 | tail -n 1`

var networkScenarios = []scenario{
	{"published-port-fixed-and-random", func(c *tcase) {
		p := freePort(c.T)
		n := c.web("pub", "-p", fmt.Sprintf("127.0.0.1:%d:80", p))
		c.wantEq(c.httpGet(fmt.Sprintf("http://127.0.0.1:%d/", p)), "hello-"+n, "fixed host port")
		r := c.web("rnd", "-p", "127.0.0.1::80")
		hostPort := c.ok("port", r, "80/tcp")
		c.wantContains(hostPort, "127.0.0.1:", "docker port")
		c.wantEq(c.httpGet("http://"+strings.TrimSpace(strings.Split(hostPort, "\n")[0])+"/"), "hello-"+r, "random host port")
		c.wantContains(c.ok("ps", "-f", "name="+r, "--format", "{{.Ports}}"), "->80/tcp", "ps ports column")
	}},
	{"containers-by-name-on-a-user-network", func(c *tcase) {
		nw := c.network("app", "--subnet", "10.231.7.0/24")
		srv := c.web("srv", "--network", nw, "--network-alias", "backend")
		ip := c.inspect(srv, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
		c.wantContains(ip, "10.231.7.", "address from the subnet")
		for _, name := range []string{srv, "backend"} {
			out := c.ok("run", "--rm", "--network", nw, "busybox", "nslookup", name)
			c.wantContains(out, ip, "embedded DNS answers "+name)
		}
		out := c.ok("run", "--rm", "--network", nw, "busybox", "sh", "-c", fmt.Sprintf(ncGet, ip))
		c.wantEq(out, "hello-"+srv, "container to container")
		r := c.run("network", "rm", nw)
		if r.Code == 0 {
			c.Fatalf("network rm with a running endpoint must fail: %s", r)
		}
	}},
	{"network-host-none-container", func(c *tcase) {
		host, _ := os.Hostname()
		c.wantEq(c.ok("run", "--rm", "--network", "host", "busybox", "hostname"), host, "--network host")
		out := c.ok("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net")
		c.wantEq(out, "lo", "--network none has only lo")
		srv := c.web("shared")
		out = c.ok("run", "--rm", "--network", "container:"+srv, "busybox", "sh", "-c", fmt.Sprintf(ncGet, "127.0.0.1"))
		c.wantEq(out, "hello-"+srv, "--network container: shares localhost")
	}},
	{"port-already-allocated", portAlreadyAllocated},
}

// portAlreadyAllocated: a published port another process holds fails the
// start with dockerd 28's bind words (the binding with the container's
// address, then the errno), one another container holds with the
// allocator's; both leave the container created with exit code 128 and
// its State.Error, and nothing behind: the port is free for the next start.
func portAlreadyAllocated(c *tcase) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	pub := fmt.Sprintf("127.0.0.1:%d:80", p)
	berthd := env.daemon.Target == testutil.TargetBerthd
	// Count only what this daemon owns: other daemons on the host (a
	// dockerd, parallel test runs) add and remove veths and rules meanwhile.
	bridge, table := network.DefaultNames(env.daemon.Root)
	vethsBefore, rulesBefore := countVeths(bridge), countNftRules(table)
	subnet := netip.MustParsePrefix(c.inspect("bridge", "{{(index .IPAM.Config 0).Subnet}}"))
	// wantFailed checks a failed run's CLI answer (exit 125; -d printed the
	// new container's ID first) and the container's state, and returns the
	// daemon's message.
	wantFailed := func(r testutil.Result, n string, detach bool, words *regexp.Regexp) []string {
		c.Helper()
		// The CLI names itself: docker or berth.
		msg, ok := strings.CutPrefix(r.Stderr, c.dr.Name+": Error response from daemon: ")
		msg, tail, _ := strings.Cut(msg, "\n")
		sub := words.FindStringSubmatch(msg)
		if r.Code != 125 || !ok || sub == nil || tail != "\nRun '"+c.dr.Name+" run --help' for more information\n" {
			c.Fatalf("want exit 125 and %s: %s", words, r)
		}
		id := c.inspect(n, "{{.Id}}")
		// The docker CLI prints the ID from a goroutine it does not wait
		// for when the start fails: the ID or nothing.
		want := ""
		if detach {
			want = id
		}
		if r.Out() != want && (c.dr.Name != "docker" || r.Out() != "") {
			c.Errorf("stdout %q, want %q", r.Out(), want)
		}
		c.wantEq(c.inspect(n, "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"), "created 128 "+msg, "state after the failed start")
		if berthd {
			if _, err := os.Stat(filepath.Join(env.daemon.Exec, "netns", id)); !os.IsNotExist(err) {
				c.Errorf("netns left after the failed start: %v", err)
			}
		}
		return sub
	}
	var first string
	for _, detach := range []bool{true, false} {
		n := c.name("clash")
		args := []string{"run", "--name", n, "-p", pub, "busybox", "sleep", "60"}
		if detach {
			args = slices.Insert(args, 1, "-d")
			first = n
		}
		r := c.run(args...)
		if !berthd {
			// dockerd 20.10's docker-proxy fails to bind the port another
			// process holds.
			wantFailed(r, n, detach, regexp.MustCompile(`^driver failed programming external connectivity on endpoint `+
				regexp.QuoteMeta(n)+` \([0-9a-f]{64}\): Error starting userland proxy: listen tcp4 127\.0\.0\.1:`+strconv.Itoa(p)+`: bind: address already in use$`))
			continue
		}
		sub := wantFailed(r, n, detach, regexp.MustCompile(`^failed to set up container networking: driver failed programming external connectivity on endpoint `+
			regexp.QuoteMeta(n)+` \([0-9a-f]{64}\): failed to bind host port for 127\.0\.0\.1:`+strconv.Itoa(p)+
			`:([0-9.]+):80/tcp: address already in use$`))
		if ip, err := netip.ParseAddr(sub[1]); err != nil || !subnet.Contains(ip) {
			c.Errorf("container address %s is not on the bridge %s", sub[1], subnet)
		}
	}
	if berthd {
		// The namespace takes its veth with it in the background: the
		// kernel's netns cleanup, one queue for the host, can lag seconds
		// behind under load.
		c.eventually(30*time.Second, "no veth left after the failed start", func() bool { return countVeths(bridge) <= vethsBefore })
		if n := countNftRules(table); n != rulesBefore {
			c.Errorf("nft rules %d -> %d after the failed start", rulesBefore, n)
		}
	}
	// Freed by the other process, the port is the failed container's at its
	// next start, which clears the error.
	l.Close()
	c.ok("start", first)
	c.wantEq(c.inspect(first, "{{.State.Status}} {{.State.ExitCode}} [{{.State.Error}}]"), "running 0 []", "state after a start")
	// Held by a container, the port fails with the allocator's words;
	// dockerd 20.10 does not say "failed to set up container networking".
	n := c.name("clash")
	prefix := ""
	if berthd {
		prefix = "failed to set up container networking: "
	}
	wantFailed(c.run("run", "-d", "--name", n, "-p", pub, "busybox", "sleep", "60"), n, true,
		regexp.MustCompile(`^`+prefix+`driver failed programming external connectivity on endpoint `+regexp.QuoteMeta(n)+
			` \([0-9a-f]{64}\): `+regexp.QuoteMeta(fmt.Sprintf("Bind for 127.0.0.1:%d failed: port is already allocated", p))+`$`))
}

// countVeths counts the veth interfaces enslaved to bridge.
func countVeths(bridge string) int {
	out, _ := exec.Command("ip", "-o", "link", "show", "master", bridge, "type", "veth").Output()
	return strings.Count(string(out), "\n")
}

// countNftRules counts the rules in the nft tables named table (ip, ip6, inet).
func countNftRules(table string) int {
	n := 0
	for _, family := range []string{"ip", "ip6", "inet"} {
		out, err := exec.Command("nft", "-a", "list", "table", family, table).Output()
		if err != nil {
			continue // no table of this family
		}
		s := string(out)
		n += strings.Count(s, "# handle") - strings.Count(s, "chain ") - strings.Count(s, "table ")
	}
	return n
}
