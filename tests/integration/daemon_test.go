package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/hostfw"
	"github.com/berth-project/berth/tests/testutil"
)

// ownDaemon is a berthd of the test's own, on a dir it can restart on.
type ownDaemon struct {
	t   *testing.T
	dir string
	d   *testutil.Daemon
	dr  testutil.Driver
}

func newOwnDaemon(t *testing.T, extra ...string) *ownDaemon {
	t.Helper()
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd-only: restarts and flags of the daemon itself")
	}
	dir, err := os.MkdirTemp("/tmp", "bo")
	if err != nil {
		t.Fatal(err)
	}
	o := &ownDaemon{t: t, dir: dir}
	t.Cleanup(func() {
		if o.d != nil {
			ids := strings.Fields(o.dr.Run(context.Background(), nil, "ps", "-aq").Stdout)
			if len(ids) > 0 {
				o.dr.Run(context.Background(), nil, append([]string{"rm", "-f"}, ids...)...)
			}
			if err := o.d.Shutdown(); err != nil {
				o.d.Kill()
				// A crashed daemon's rules stay until the next one starts: remove them.
				hostfw.New(o.d.FirewallChain()).Close(context.Background())
			} else if left, err := o.d.IptablesLeftovers(); err != nil || len(left) > 0 {
				t.Errorf("iptables rules left after shutdown: %v %v", left, err)
			}
			// A clean shutdown with no running containers leaves no cgroups.
			sum := sha256.Sum256([]byte(o.d.Root))
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/berth-" + hex.EncodeToString(sum[:4])); len(left) > 0 {
				t.Errorf("cgroups left after shutdown: %v", left)
				for _, l := range left {
					os.Remove(l)
				}
			}
		}
		// A monitor supervisor leaves by itself once its last container is
		// gone, a moment after `rm -f`; removing the dir under it races
		// with its own clean-up. Wait for it, and count one that stays as
		// a leak.
		if left := waitProcsGone(dir, 15*time.Second); len(left) > 0 {
			t.Errorf("processes of %s left after shutdown: %v", dir, left)
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			waitProcsGone(dir, 5*time.Second)
		}
		if err := testutil.RemoveDir(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	o.start(extra...)
	if r := o.dr.Run(context.Background(), strings.NewReader(string(env.tarData)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
	return o
}

func (o *ownDaemon) start(extra ...string) {
	o.t.Helper()
	d, err := testutil.StartBerthdIn(context.Background(), o.dir, extra...)
	if err != nil {
		o.t.Fatal(err)
	}
	o.d = d
	o.dr = testutil.DockerDriver(d, filepath.Join(o.dir, "cfg"))
}

func (o *ownDaemon) ok(args ...string) string {
	o.t.Helper()
	r := o.dr.Run(context.Background(), nil, args...)
	if r.Code != 0 {
		o.t.Fatalf("%s\ndaemon log:\n%s", r, o.d.LogTail(2000))
	}
	return r.Out()
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// A crashed daemon leaves its containers running; the next one reconnects
// to their monitors and can exec into and stop them.
func TestDaemonCrashKeepsContainers(t *testing.T) {
	o := newOwnDaemon(t)
	o.ok("run", "-d", "--name", "keep", "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "keep"))
	o.d.Kill()
	if !alive(pid) {
		t.Fatalf("container process %d died with the daemon", pid)
	}
	o.start()
	if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"); got != fmt.Sprintf("running %d", pid) {
		t.Fatalf("after restart: %q", got)
	}
	if got := o.ok("exec", "keep", "echo", "still-here"); got != "still-here" {
		t.Fatalf("exec after restart: %q", got)
	}
	o.ok("stop", "-t", "1", "keep")
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "keep"); got != "exited" {
		t.Fatalf("after stop: %q", got)
	}
	if alive(pid) {
		t.Fatalf("process %d survived stop", pid)
	}
}

// A container that exits while no daemon runs has its exit code recorded
// by its monitor and picked up by the next daemon.
func TestDaemonPicksUpExitWhileDown(t *testing.T) {
	o := newOwnDaemon(t)
	o.ok("run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; exit 7")
	pid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "quitter"))
	o.d.Kill()
	// Until the process is gone, not a fixed time: a daemon started while
	// it still ran (a slow start on a loaded machine) would see it running.
	for deadline := time.Now().Add(30 * time.Second); pid > 0 && alive(pid); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("container process %d still alive 30 s after its sleep 1", pid)
		}
	}
	o.start()
	if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "quitter"); got != "exited 7" {
		t.Fatalf("got %q", got)
	}
	if m, _ := testutil.MountsUnder(o.dir); len(m) != 0 {
		t.Fatalf("rootfs still mounted after the exit was processed: %v", m)
	}
}

// A clean shutdown stops containers (dockerd without live-restore); a
// restart policy "always" brings them back on the next start.
func TestDaemonShutdownAndRestartPolicy(t *testing.T) {
	o := newOwnDaemon(t)
	o.ok("run", "-d", "--name", "plain", "busybox", "sleep", "300")
	o.ok("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "plain"))
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("container %d still running after a clean shutdown", pid)
	}
	o.start()
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "plain"); got != "exited" {
		t.Fatalf("plain: %q", got)
	}
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "always"); got != "running" {
		t.Fatalf("always: %q", got)
	}
}

// With --live-restore a clean shutdown leaves containers running too.
func TestDaemonLiveRestoreFlag(t *testing.T) {
	o := newOwnDaemon(t, "--live-restore")
	o.ok("run", "-d", "--name", "lr", "busybox", "sleep", "300")
	pid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "lr"))
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatal("container stopped despite --live-restore")
	}
	o.start("--live-restore")
	if got := o.ok("inspect", "-f", "{{.State.Running}}", "lr"); got != "true" {
		t.Fatalf("got %q", got)
	}
}

// Two daemons side by side: separate containers, cgroup parents and sockets.
func TestTwoDaemonsSideBySide(t *testing.T) {
	a := newOwnDaemon(t)
	b := newOwnDaemon(t)
	a.ok("run", "-d", "--name", "same", "busybox", "sleep", "300")
	b.ok("run", "-d", "--name", "same", "busybox", "sleep", "300")
	pa, _ := strconv.Atoi(a.ok("inspect", "-f", "{{.State.Pid}}", "same"))
	pb, _ := strconv.Atoi(b.ok("inspect", "-f", "{{.State.Pid}}", "same"))
	ca, _ := testutil.CgroupOf(pa, "memory")
	cb, _ := testutil.CgroupOf(pb, "memory")
	if ca == "" || filepath.Dir(ca) == filepath.Dir(cb) {
		t.Fatalf("cgroup parents must differ: %q vs %q", ca, cb)
	}
	if got := a.ok("ps", "-q"); len(strings.Fields(got)) != 1 {
		t.Fatalf("daemon a lists %q", got)
	}
	b.ok("rm", "-f", "same")
	if !alive(pa) {
		t.Fatal("removing b's container touched a's")
	}
}

// The socket is root:<group> 0660, and daemon.json keys apply unless a flag
// sets the same thing (then berthd refuses to start, like dockerd).
func TestDaemonSocketAndConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(cfg, []byte(`{"log-opts":{"max-size":"1k","max-file":"2"},"default-runtime":"runc"}`), 0o644)
	o := newOwnDaemon(t, "--config-file", cfg, "--group", "root")
	var st syscall.Stat_t
	if err := syscall.Stat(o.d.Sock, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o660 || st.Gid != 0 {
		t.Fatalf("socket mode %o gid %d", st.Mode&0o777, st.Gid)
	}
	o.ok("run", "--name", "chatty", "busybox", "sh", "-c", "for i in $(seq 200); do echo line-$i; done")
	logPath := o.ok("inspect", "-f", "{{.LogPath}}", "chatty")
	if _, err := os.Stat(logPath + ".1"); err != nil {
		t.Fatalf("daemon.json log-opts not applied (no rotation): %v", err)
	}
	// Same key as flag and in the file: refused.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"data-root":"/tmp/elsewhere"}`), 0o644)
	d2 := t.TempDir()
	_, err := testutil.StartBerthdIn(context.Background(), d2, "--config-file", bad)
	if err == nil || !strings.Contains(err.Error(), "specified both as a flag and in the configuration file") {
		t.Fatalf("conflict not reported: %v", err)
	}
}

// --runtime picks the OCI runtime; an unknown name is a 400 with Docker's words.
func TestRuntimeSelection(t *testing.T) {
	o := newOwnDaemon(t)
	r := o.dr.Run(context.Background(), nil, "run", "--rm", "--runtime", "nosuch", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "unknown or invalid runtime name: nosuch") {
		t.Fatalf("%s", r)
	}
	if got := o.ok("run", "--rm", "--runtime", "runc", "busybox", "echo", "ok"); got != "ok" {
		t.Fatalf("runc: %q", got)
	}
	// crun is the default where it is installed (install-deps does).
	if got := o.ok("info", "-f", "{{.DefaultRuntime}}"); got != "crun" {
		t.Fatalf("default runtime %q, want crun", got)
	}
	if got := o.ok("run", "--rm", "--runtime", "crun", "busybox", "echo", "ok"); got != "ok" {
		t.Fatalf("crun: %q", got)
	}
	o.d.Shutdown()
	o.start("--default-runtime", "runc")
	if got := o.ok("info", "-f", "{{.DefaultRuntime}}"); got != "runc" {
		t.Fatalf("--default-runtime runc: default runtime %q", got)
	}
}

// Published ports survive a daemon crash (the rules are restored), and a
// clean shutdown removes the daemon's bridge, nft table and netns files.
func TestDaemonNetworkRestoreAndCleanup(t *testing.T) {
	o := newOwnDaemon(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	o.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", p), "busybox", "sh", "-c",
		"mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 80 -h /www")
	get := func() string {
		cl := &http.Client{Timeout: time.Second}
		// Until the server answers, for up to 30 s (a count of 50 quick
		// refusals lasted 5 s).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			if resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/", p)); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return strings.TrimSpace(string(b))
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	}
	if got := get(); got != "up" {
		t.Fatalf("before crash: %q", got)
	}
	o.d.Kill()
	o.start()
	if got := get(); got != "up" {
		t.Fatalf("after restart: %q\n%s", got, o.d.LogTail(2000))
	}
	links := func() []string {
		out, _ := exec.Command("ip", "-o", "link").Output()
		var names []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				names = append(names, strings.TrimSuffix(strings.Split(f[1], "@")[0], ":"))
			}
		}
		return names
	}
	tables := func() string {
		out, _ := exec.Command("nft", "list", "tables").Output()
		return string(out)
	}
	beforeLinks, beforeTables := links(), tables()
	o.ok("rm", "-f", "web")
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if after := links(); len(after) >= len(beforeLinks) {
		t.Errorf("no link went away on shutdown: before %v after %v", beforeLinks, after)
	}
	if after := tables(); after == beforeTables || strings.Count(after, "\n") >= strings.Count(beforeTables, "\n") {
		t.Errorf("nft table left after shutdown:\n%s", after)
	}
	if m, _ := testutil.MountsUnder(o.dir); len(m) != 0 {
		t.Errorf("mounts left after shutdown: %v", m)
	}
	o.d = nil // shut down already
}

// --bip sets the default bridge's address and subnet.
func TestDaemonBip(t *testing.T) {
	o := newOwnDaemon(t, "--bip", "10.231.77.1/24")
	out := o.ok("run", "--rm", "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route")
	if !strings.Contains(out, "10.231.77.") || !strings.Contains(out, "default via 10.231.77.1") {
		t.Fatalf("container not on the --bip subnet:\n%s", out)
	}
	if got := o.ok("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "bridge"); got != "10.231.77.0/24 10.231.77.1" {
		t.Fatalf("bridge network: %q", got)
	}
}

// -H tcp://ADDR serves the API on TCP next to the unix socket, but only
// with TLS or an explicit --tls=false (as current dockerd releases).
func TestDaemonTCPHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if env != nil && env.daemon.Target == testutil.TargetBerthd {
		dir := t.TempDir()
		repo, _ := testutil.RepoRoot()
		out, err := berthdMustRefuse(t, filepath.Join(testutil.BinDir(repo), "berthd"), "--data-root", filepath.Join(dir, "d"),
			"--exec-root", filepath.Join(dir, "e"), "-H", "unix://"+filepath.Join(dir, "s.sock"), "-H", "tcp://"+addr, "--bridge", "none")
		if err == nil || !strings.Contains(string(out), "without TLS") || !strings.Contains(string(out), "--tls=false") {
			t.Fatalf("tcp without TLS and without --tls=false: %v: %s", err, out)
		}
		if m, _ := testutil.MountsUnder(dir); len(m) > 0 {
			t.Fatalf("refused start left mounts: %v", m)
		}
	}
	o := newOwnDaemon(t, "-H", "tcp://"+addr, "--tls=false")
	tcp := o.dr
	tcp.Env = append(append([]string{}, o.dr.Env...), "DOCKER_HOST=tcp://"+addr)
	r := tcp.Run(context.Background(), nil, "run", "--rm", "busybox", "echo", "over-tcp")
	if r.Code != 0 || r.Out() != "over-tcp" {
		t.Fatalf("%s", r)
	}
}

// On a hybrid host with a controller on cgroup2 crun runs through
// berth-crun; BERTH_CRUN_NAMESPACE=1 takes that path here too. Limits are
// enforced in the v1 hierarchies and the host keeps its cgroup2 mount.
func TestCrunNamespaceWrapper(t *testing.T) {
	t.Setenv("BERTH_CRUN_NAMESPACE", "1")
	o := newOwnDaemon(t)
	if got := o.ok("info", "-f", "{{(index .Runtimes \"crun\").Path}}"); !strings.HasSuffix(got, "/berth-crun") {
		t.Fatalf("crun runtime path %q, want the berth-crun wrapper", got)
	}
	got := o.ok("run", "--rm", "--memory", "32m", "--pids-limit", "40", "busybox", "sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
	if got != "33554432\n40" {
		t.Fatalf("limits inside the container: %q", got)
	}
	id := o.ok("run", "-d", "busybox", "sleep", "60")
	if out := o.ok("exec", id, "echo", "exec-ok"); out != "exec-ok" {
		t.Fatalf("exec: %q", out)
	}
	o.ok("pause", id)
	o.ok("unpause", id)
	o.ok("rm", "-f", id)
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mounts), " /sys/fs/cgroup/unified ") {
		t.Fatal("the host lost its cgroup2 mount")
	}
}

// waitProcsGone waits until no process has an argument naming something
// under dir, and returns the pids still there after timeout.
func waitProcsGone(dir string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := testutil.ProcsWithArg("", dir+"/")
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}
