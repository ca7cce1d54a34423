package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

func TestNetworkOptions(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("needs the daemon's own bridge networking")
	}
	forEachDriver(t, networkOptionScenarios)
}

var networkOptionScenarios = []scenario{
	{"port-forms", func(c *tcase) {
		// -p CONTAINERPORT: a random host port on all addresses.
		a := c.web("pa", "-p", "80")
		hp := strings.TrimSpace(strings.Split(c.ok("port", a, "80"), "\n")[0])
		_, port, _ := strings.Cut(hp, ":")
		c.wantEq(c.httpGet("http://127.0.0.1:"+port+"/"), "hello-"+a, "-p 80")
		// -P publishes every exposed port.
		b := c.web("pb", "-P", "--expose", "80")
		hp = strings.TrimSpace(strings.Split(c.ok("port", b, "80/tcp"), "\n")[0])
		_, port, _ = strings.Cut(hp, ":")
		c.wantEq(c.httpGet("http://127.0.0.1:"+port+"/"), "hello-"+b, "-P")
		// A range maps port for port.
		p := freePort(c.T)
		n := c.name("rng")
		c.ok("run", "-d", "--name", n, "-p", fmt.Sprintf("127.0.0.1:%d-%d:80-81", p, p+1), "busybox", "sh", "-c",
			"mkdir -p /www && echo ranged > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www")
		c.wantEq(c.httpGet(fmt.Sprintf("http://127.0.0.1:%d/", p+1)), "ranged", "range second port")
	}},
	{"udp-port", func(c *tcase) {
		bin := udpEchoBinary(c.T)
		p := freePort(c.T)
		n := c.name("udp")
		c.ok("run", "-d", "--name", n, "-p", fmt.Sprintf("127.0.0.1:%d:9999/udp", p),
			"-v", bin+":/udpecho:ro", "busybox", "/udpecho")
		c.eventually(10*time.Second, "udp echo through the published port", func() bool {
			conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return false
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
			conn.Write([]byte("ping-udp"))
			buf := make([]byte, 64)
			k, err := conn.Read(buf)
			return err == nil && string(buf[:k]) == "echo:ping-udp"
		})
	}},
	{"network-create-options-connect-disconnect", func(c *tcase) {
		br := "bt" + randHex(3)
		nw := c.network("opt", "--subnet", "10.231.9.0/24", "--gateway", "10.231.9.254", "--ip-range", "10.231.9.128/25",
			"--label", "env=test", "-o", "com.docker.network.bridge.name="+br)
		c.wantEq(c.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.env}}", nw),
			"10.231.9.0/24 10.231.9.254 test", "network inspect")
		c.wantContains(c.ok("network", "ls", "-q", "-f", "label=env=test", "--no-trunc"), "", "ls -f label")
		c.wantContains(c.ok("network", "ls", "--format", "{{.Name}} {{.Driver}}"), nw+" bridge", "ls --format")
		if _, err := net.InterfaceByName(br); err != nil {
			c.Errorf("bridge %s named by -o com.docker.network.bridge.name is missing: %v", br, err)
		}
		n := c.sleeper("conn")
		c.ok("network", "connect", "--alias", "extra", "--ip", "10.231.9.200", nw, n)
		c.wantContains(c.inspect(n, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}"),
			nw+"=10.231.9.200", "connect --ip")
		c.wantContains(c.ok("run", "--rm", "--network", nw, "busybox", "nslookup", "extra"), "10.231.9.200", "connect --alias")
		auto := c.sleeper("auto", "--network", nw)
		ip := c.inspect(auto, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
		if last := ip[strings.LastIndex(ip, ".")+1:]; len(last) < 3 || last < "128" {
			c.Errorf("address %s outside --ip-range 10.231.9.128/25", ip)
		}
		c.ok("network", "disconnect", nw, n)
		if got := c.inspect(n, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); strings.Contains(got, nw) {
			c.Errorf("still connected after disconnect: %q", got)
		}
	}},
	{"internal-network-and-prune", func(c *tcase) {
		nw := c.network("int", "--internal", "--subnet", "10.231.11.0/24")
		c.wantEq(c.ok("network", "inspect", "-f", "{{.Internal}}", nw), "true", "internal")
		out := c.run("network", "prune", "-f")
		if out.Code != 0 {
			c.Fatalf("prune: %s", out)
		}
		if r := c.run("network", "inspect", nw); r.Code == 0 {
			c.Errorf("unused network survived prune")
		}
	}},
	{"dns-hosts-options", func(c *tcase) {
		out := c.ok("run", "--rm", "--dns", "10.231.0.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
			"--add-host", "db.local:10.231.0.9", "--add-host", "gw:host-gateway", "-h", "myhost",
			"--mac-address", "02:42:ac:11:00:99", "busybox", "sh", "-c",
			"cat /etc/resolv.conf /etc/hosts; hostname; cat /sys/class/net/eth0/address")
		for _, want := range []string{"nameserver 10.231.0.53", "search example.test", "options ndots:2",
			"10.231.0.9\tdb.local", "myhost", "02:42:ac:11:00:99"} {
			c.wantContains(out, want, "container files")
		}
		if !strings.Contains(out, "\tgw") {
			c.Errorf("host-gateway not resolved in /etc/hosts:\n%s", out)
		}
	}},
	{"default-bridge-has-no-name-resolution", func(c *tcase) {
		a := c.sleeper("nodns")
		r := c.run("run", "--rm", "busybox", "nslookup", a)
		if r.Code == 0 && !strings.Contains(r.Stdout+r.Stderr, "can't resolve") && !strings.Contains(r.Stdout+r.Stderr, "NXDOMAIN") {
			c.Errorf("a container name resolved on the default bridge: %s", r)
		}
	}},
}

var (
	udpEchoOnce sync.Once
	udpEchoPath string
	udpEchoErr  error
)

// udpEchoBinary builds testdata/udpecho (static) once per test binary.
func udpEchoBinary(t *testing.T) string {
	udpEchoOnce.Do(func() {
		udpEchoPath = filepath.Join(env.daemon.Dir, "udpecho")
		cmd := exec.Command("go", "build", "-o", udpEchoPath, "./testdata/udpecho")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			udpEchoErr = fmt.Errorf("build udpecho: %v: %s", err, out)
		}
	})
	if udpEchoErr != nil {
		t.Fatal(udpEchoErr)
	}
	return udpEchoPath
}
