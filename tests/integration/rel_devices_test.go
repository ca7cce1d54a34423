package integration

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/tests/testutil"
	"golang.org/x/sys/unix"
)

// --device and --device-cgroup-rule as dockerd does them: the node appears
// at the container path with the host's numbers, the cgroup allows what
// the permissions say and no more, a directory maps its device nodes, and
// a missing host device fails the start in dockerd's words. Run with
// BERTH_TEST_TARGET=dockerd the same table passes against dockerd 20.10.
func TestDevices(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mknod(filepath.Join(dir, "z"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 5))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no /dev/loop-control on this host: %v", err)
	}
	forEachDriver(t, []scenario{
		{"zero-renamed", func(c *tcase) {
			out := c.ok(runArgs("--rm", "--device", "/dev/zero:/dev/myzero", "busybox", "sh", "-c",
				"ls -ln /dev/myzero; head -c 4 /dev/myzero | od -An -c")...)
			c.wantContains(out, "1,   5", "major, minor of /dev/myzero")
			c.wantContains(out, `\0  \0  \0  \0`, "bytes read from /dev/myzero")
		}},
		{"null-rw", func(c *tcase) {
			out := c.ok(runArgs("--rm", "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
				"ls -ln /dev/mynull && echo hi > /dev/mynull && echo wrote")...)
			c.wantContains(out, "1,   3", "major, minor of /dev/mynull")
			c.wantContains(out, "wrote", "write to /dev/mynull")
		}},
		{"loop-control-read-only", func(c *tcase) {
			// 10:237 is not in the default allow-list: only the
			// rule the mapping adds lets it be opened, and "r" does
			// not let it be opened for writing.
			r := c.run(runArgs("--rm", "--device", "/dev/loop-control:/dev/lc:r", "busybox", "sh", "-c",
				"ls -ln /dev/lc; head -c 0 /dev/lc && echo readok; : > /dev/lc && echo writeok")...)
			c.wantContains(r.Stdout, "10, 237", "major, minor of /dev/lc")
			c.wantContains(r.Stdout, "readok", "read open of /dev/lc")
			if strings.Contains(r.Stdout, "writeok") || !strings.Contains(r.Stderr, "Operation not permitted") {
				c.Errorf("write open of a read-only device was allowed: %s", r)
			}
		}},
		{"cgroup-rule", func(c *tcase) {
			// Without the rule, a node made in the container cannot be
			// opened; with "c 10:237 r" it can be read and not written.
			r := c.run(runArgs("--rm", "busybox", "sh", "-c", "mknod /dev/lc c 10 237; head -c 0 /dev/lc && echo readok")...)
			if strings.Contains(r.Stdout, "readok") || !strings.Contains(r.Stderr, "Operation not permitted") {
				c.Errorf("device outside the allow-list opened: %s", r)
			}
			r = c.run(runArgs("--rm", "--device-cgroup-rule", "c 10:237 r", "busybox", "sh", "-c",
				"mknod /dev/lc c 10 237; head -c 0 /dev/lc && echo readok; : > /dev/lc && echo writeok")...)
			c.wantContains(r.Stdout, "readok", "read open allowed by the rule")
			if strings.Contains(r.Stdout, "writeok") {
				c.Errorf("rule 'r' allowed a write open: %s", r)
			}
		}},
		{"directory", func(c *tcase) {
			out := c.ok(runArgs("--rm", "--device", dir+":/dev/dd", "busybox", "ls", "-ln", "/dev/dd")...)
			c.wantContains(out, "crw-r-----", "mode of /dev/dd/z")
			c.wantContains(out, "1,   5 ", "numbers of /dev/dd/z")
		}},
		{"missing-device", func(c *tcase) {
			want := `error gathering device information while adding custom device "/dev/nonexist": no such file or directory`
			r := c.run(runArgs("--rm", "--device", "/dev/nonexist", "busybox", "true")...)
			if r.Code == 0 || !strings.Contains(r.Stderr, want) {
				c.Errorf("want %q: %s", want, r)
			}
			// As in dockerd the device is looked up at start: the
			// create succeeds, the start fails and the container
			// stays created.
			name := c.name("nodev")
			c.ok(createArgs("--name", name, "--device", "/dev/nonexist", "busybox", "true")...)
			defer c.run("rm", "-f", name)
			r = c.run("start", name)
			if r.Code == 0 || !strings.Contains(r.Stderr, want) {
				c.Errorf("start: want %q: %s", want, r)
			}
			c.wantEq(c.inspect(name, "{{.State.Status}}"), "created", "state after the failed start")
		}},
	})
}

// Bad port bindings and HostConfig fields Berth cannot honour are refused
// at create in dockerd's words (400), leaving no container; the fields
// dockerd discards on Linux come back as warnings.
func TestCreateValidation(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	if env.daemon.Target != testutil.TargetBerthd {
		// dockerd 20.10 takes bad protocols and device rules at create
		// and fails them at start; dockerd 28 refuses them at create.
		t.Skip("Berth's create-time checks")
	}
	api, err := env.daemon.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		list, err := api.ContainerList(context.Background(), client.ContainerListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	// create posts a raw HostConfig: the test is about the daemon's
	// answer to fields as a client may write them, status and body.
	cl := daemonHTTP()
	create := func(hc string) (int, string) {
		body := `{"Image":"busybox","Cmd":["true"],"HostConfig":{` + hc + `}}`
		resp, err := cl.Post("http://d/v1.41/containers/create", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bad := []struct{ hc, msg string }{
		{`"PortBindings":{"80/tcp":[{"HostPort":"99999"}]}`, `invalid port specification: \"99999\"`},
		{`"PortBindings":{"80/tcp":[{"HostPort":"abc"}]}`, `invalid port specification: \"abc\"`},
		{`"PortBindings":{"80/tcp":[{"HostPort":"9000-8000"}]}`, `invalid port specification: \"9000-8000\"`},
		{`"PortBindings":{"80/tcp":[{"HostPort":"-1"}]}`, `invalid port specification: \"-1\"`},
		{`"PortBindings":{"80/xyz":[{"HostPort":"8080"}]}`, `invalid port specification: \"80/xyz\"`},
		{`"PortBindings":{"0/tcp":[{"HostPort":"8080"}]}`, `invalid port specification: \"0/tcp\"`},
		{`"PortBindings":{"abc/tcp":[{"HostPort":"8080"}]}`, `abc`},
		{`"PortBindings":{"80/tcp":[{"HostIp":"1.2.3.999","HostPort":"8080"}]}`, `1.2.3.999`},
		// A bad host address: current dockerd (API types with netip.Addr,
		// runconfig's loadJSON) answers 400 with these words. dockerd 20.10
		// and 28 took it (201) and published on every address at start
		// (net.ParseIP gave nil): what the user asked to limit was widened.
		{`"PortBindings":{"80/tcp":[{"HostIp":"1.2.3","HostPort":"80"}]}`, `{"message":"invalid JSON: ParseAddr(\"1.2.3\"): IPv4 address too short"}`},
		{`"PortBindings":{"80/tcp":[{"HostIp":"999.1.1.1","HostPort":"80"}]}`, `{"message":"invalid JSON: ParseAddr(\"999.1.1.1\"): IPv4 field has value >255"}`},
		{`"DeviceCgroupRules":["bogus"]`, `invalid device cgroup rule format: 'bogus'`},
		{`"Devices":[{"PathOnHost":"/dev/zero","PathInContainer":"/dev/z","CgroupPermissions":"xyz"}]`, `bad mode specified: xyz`},
		{`"IOMaximumBandwidth":1000`, `Invalid QoS settings: linux does not support configuration of maximum bandwidth`},
		{`"IOMaximumIOps":10`, `Invalid QoS settings: linux does not support configuration of maximum IOPs`},
		{`"Isolation":"hyperv"`, `Invalid isolation: \"hyperv\" - linux only supports 'default'`},
		{`"StorageOpt":{"size":"10G"}`, `--storage-opt is supported only for overlay over xfs with 'pquota' mount option`},
		{`"DeviceRequests":[{"Count":-1,"Capabilities":[["gpu"]]}]`, `could not select device driver \"\" with capabilities: [[gpu]]`},
		{`"Cgroup":"container:abc"`, `container:abc`},
		{`"UsernsMode":"foo"`, `foo`},
		{`"VolumeDriver":"nosuchdriver","Binds":["relvd:/data"]`, `plugin \"nosuchdriver\" not found`},
	}
	before := count()
	for _, b := range bad {
		code, body := create(b.hc)
		if code/100 != 4 || !strings.Contains(body, b.msg) {
			t.Errorf("%s: want a 4xx with %s, got %d %s", b.hc, b.msg, code, body)
		}
	}
	// Both CLIs refuse a bad host address before asking the daemon, in
	// docker's words (exit 125).
	for _, dr := range env.drivers {
		for _, spec := range []string{"1.2.3:80:80", "999.1.1.1:80:80"} {
			ip, _, _ := strings.Cut(spec, ":")
			r := dr.Run(context.Background(), nil, "create", "-p", spec, "busybox", "true")
			if r.Code != 125 || !strings.Contains(r.Stderr, "invalid IP address: "+ip) {
				t.Errorf("%s create -p %s: want exit 125 with invalid IP address: %s, got %s", dr.Name, spec, ip, r)
			}
		}
	}
	if n := count(); n != before {
		t.Fatalf("refused creates left %d containers", n-before)
	}
	warn := []struct{ hc, warning string }{
		{`"CpuPercent":50`, "linux does not support CPU percent. Percent discarded."},
		{`"CpuCount":2`, "linux does not support CPU count. Count discarded."},
	}
	for _, w := range warn {
		code, body := create(w.hc)
		var resp struct {
			ID       string `json:"Id"`
			Warnings []string
		}
		json.Unmarshal([]byte(body), &resp)
		if resp.ID != "" {
			api.ContainerRemove(context.Background(), resp.ID, client.ContainerRemoveOptions{Force: true})
		}
		if code != 201 || len(resp.Warnings) != 1 || resp.Warnings[0] != w.warning {
			t.Errorf("%s: want 201 with warning %q, got %d %s", w.hc, w.warning, code, body)
		}
	}
}
