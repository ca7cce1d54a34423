package integration

import (
	"archive/tar"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/registry"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrempty "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// crashNet is the user network the crash tests put containers on, so that
// veths, netns, published ports' nft rules and the iptables chain are part
// of what must stay consistent.
const crashNet = "crashnet"

func (o *ownDaemon) startEnv(env []string) {
	o.t.Helper()
	d, err := testutil.StartBerthdEnv(context.Background(), o.dir, env)
	if err != nil {
		o.t.Fatal(err)
	}
	o.d = d
	o.dr = testutil.DockerDriver(d, filepath.Join(o.dir, "cfg"))
}

// waitDead waits for the daemon to exit by itself (a crash point) and
// closes its log; it fails the test if it does not.
func (o *ownDaemon) waitDead(timeout time.Duration) {
	o.t.Helper()
	pid := o.d.Pid()
	deadline := time.Now().Add(timeout)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		o.t.Fatalf("daemon %d still alive after its crash point; log:\n%s", pid, o.d.LogTail(2000))
	}
	o.d.Kill() // closes the log
}

func (o *ownDaemon) run(args ...string) testutil.Result {
	return o.dr.Run(context.Background(), nil, args...)
}

// crashNetwork creates the test network on a subnet of its own.
func (o *ownDaemon) crashNetwork() string {
	o.t.Helper()
	subnet := fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(40), rand.IntN(250))
	id := o.ok("network", "create", "--subnet", subnet, crashNet)
	return "br-" + id[:12]
}

// Each crash window, hit for sure through a fault-injection point
// (BERTH_CRASH_POINT makes berthd SIGKILL itself there): after the restart
// the container is in a state the user can reason about and nothing is left
// that no record owns.
func TestCrashPoints(t *testing.T) {
	o := newOwnDaemon(t)
	br := o.crashNetwork()
	type point struct {
		name  string
		setup func(name string) // before the crash, on a daemon armed with the point
		crash []string          // the command that reaches the point
		check func(name string) // after the restart
	}
	created := func(name string) {
		o.ok("create", "--name", name, "--network", crashNet, "-p", "80", "busybox", "sleep", "300")
	}
	runs := func(name string) {
		o.ok("run", "-d", "--name", name, "--network", crashNet, "-p", "80", "busybox", "sleep", "300")
	}
	gone := func(name string) {
		if r := o.run("inspect", name); r.Code == 0 {
			t.Errorf("%s: still there after the restart: %s", name, r.Out())
		}
		// The name is free again.
		o.ok("create", "--name", name, "busybox", "true")
		o.ok("rm", name)
	}
	startsCleanly := func(name string) {
		if got := o.ok("inspect", "-f", "{{.State.Status}}", name); got != "created" {
			t.Errorf("%s: state %q after a start cut short, want created", name, got)
		}
		o.ok("start", name)
		if got := o.ok("exec", name, "echo", "ok"); got != "ok" {
			t.Errorf("%s: exec after restart: %q", name, got)
		}
		o.ok("rm", "-f", name)
	}
	volumes := func() string { return o.ok("volume", "ls", "-q") }
	var volsBefore string
	noteVolumes := func(string) { volsBefore = volumes() }
	// The anonymous volume a create cut short made goes with it.
	goneWithVolume := func(name string) {
		gone(name)
		if got := volumes(); got != volsBefore {
			t.Errorf("volumes after a create with -v /data cut short: %q, want %q as before", got, volsBefore)
		}
	}
	// A build step's container (running or exited) is removed at restart
	// with its rw layer, mounts and anonymous volumes; a new build works.
	buildCtx := t.TempDir()
	os.WriteFile(filepath.Join(buildCtx, "Dockerfile"), []byte("FROM busybox AS base\nRUN echo base > /base\n"+
		"FROM busybox\nVOLUME /scratch\nRUN --mount=type=bind,from=base,target=/m cat /m/base && sleep 20\n"), 0o644)
	noBuildLeft := func(string) {
		if ids := lines(o.ok("ps", "-aq")); len(ids) > 0 {
			t.Errorf("containers left after a build cut short: %v\n%s", ids, o.ok("ps", "-a"))
		}
		if got := volumes(); got != volsBefore {
			t.Errorf("volumes after a build cut short: %q, want %q as before", got, volsBefore)
		}
		if m, _ := filepath.Glob(filepath.Join(o.d.Root, "overlay", "build-*")); len(m) > 0 {
			t.Errorf("build layers left: %v", m)
		}
		mounts, _ := testutil.MountsUnder(o.dir)
		for _, m := range mounts {
			if strings.Contains(m, "/build-") {
				t.Errorf("build mount left: %s", m)
			}
		}
		// The build runs again from the start (nothing half-committed).
		o.ok("build", "-q", "-t", "cpbuild:1", buildCtx)
		o.ok("rmi", "cpbuild:1")
		if ids := lines(o.ok("ps", "-aq")); len(ids) > 0 {
			t.Errorf("containers left after a build: %v", ids)
		}
	}
	build := []string{"build", "-t", "cpbuild:1", buildCtx}
	runsPaused := func(name string) {
		runs(name)
		o.ok("pause", name)
	}
	// The container runs, thawed, and is operable: a pause that was not
	// answered, a resume that was, a commit's own pause that nobody is
	// left to undo.
	thawed := func(name string) {
		if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", name); got != "running false" {
			t.Errorf("%s: %q after the restart, want running false", name, got)
		}
		if got := o.ok("exec", name, "echo", "thawed"); got != "thawed" {
			t.Errorf("exec: %q", got)
		}
		if r := o.run("image", "inspect", "cpcommit:1"); r.Code == 0 {
			t.Errorf("a commit cut short left its image")
		}
		o.ok("pause", name)
		o.ok("unpause", name)
		o.ok("rm", "-f", name)
	}
	points := []point{
		{"create-after-rw", nil, []string{"create", "--name", "%s", "--network", crashNet, "busybox", "true"}, gone},
		{"create-after-rw", noteVolumes, []string{"create", "--name", "%s", "-v", "/data", "busybox", "true"}, goneWithVolume},
		{"build-after-start", noteVolumes, build, noBuildLeft},
		{"build-after-run", noteVolumes, build, noBuildLeft},
		{"start-before-monitor", created, []string{"start", "%s"}, startsCleanly},
		{"start-after-create", created, []string{"start", "%s"}, startsCleanly},
		{"start-after-monitor", created, []string{"start", "%s"}, func(name string) {
			st := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name)
			f := strings.Fields(st)
			pid, _ := strconv.Atoi(f[len(f)-1])
			if f[0] != "running" || !alive(pid) {
				t.Fatalf("%s: %q after a start whose state was not saved, want running with a live pid", name, st)
			}
			if got := o.ok("exec", name, "echo", "adopted"); got != "adopted" {
				t.Errorf("exec into the adopted container: %q", got)
			}
			o.ok("stop", "-t", "1", name)
			if alive(pid) {
				t.Errorf("adopted container's process %d survived stop", pid)
			}
			o.ok("rm", name)
		}},
		{"rm-after-rw", runs, []string{"rm", "-f", "%s"}, gone},
		{"pause-after-freeze", runs, []string{"pause", "%s"}, thawed},
		{"unpause-after-thaw", runsPaused, []string{"unpause", "%s"}, thawed},
		{"commit-after-pause", runs, []string{"commit", "%s", "cpcommit:1"}, thawed},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			name := "cp-" + p.name
			o.d.Shutdown()
			o.startEnv([]string{"BERTH_CRASH_POINT=" + p.name})
			if p.setup != nil {
				p.setup(name)
			}
			args := make([]string, len(p.crash))
			for i, a := range p.crash {
				args[i] = strings.ReplaceAll(a, "%s", name)
			}
			if r := o.run(args...); r.Code == 0 {
				t.Errorf("%v succeeded although the daemon was to die at %s", args, p.name)
			}
			o.waitDead(10 * time.Second)
			o.start()
			if !strings.Contains(o.d.LogTail(100000), "repair") && p.name != "start-before-monitor" {
				t.Logf("no repair logged after %s", p.name)
			}
			checkConsistent(t, o, br)
			p.check(name)
			checkConsistent(t, o, br)
		})
	}
	o.d.Shutdown()
	o.start()
	// Plain SIGKILLs with nothing in flight: what the user made stays.
	t.Run("anonymous-volume-kept", func(t *testing.T) {
		o.ok("create", "--name", "anonkept", "-v", "/data", "busybox", "true")
		vol := o.ok("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anonkept")
		o.d.Kill()
		o.start()
		if got := o.ok("volume", "ls", "-q"); !strings.Contains(got, vol) {
			t.Errorf("the anonymous volume %s of an existing container is gone after a restart: %q", vol, got)
		}
		o.ok("start", "-a", "anonkept")
		o.ok("rm", "-v", "anonkept")
		if got := o.ok("volume", "ls", "-q"); strings.Contains(got, vol) {
			t.Errorf("rm -v left the volume %s", vol)
		}
	})
	t.Run("paused", func(t *testing.T) {
		o.ok("run", "-d", "--name", "pausedkept", "--network", crashNet, "-p", "80", "busybox", "sleep", "300")
		pid := o.ok("inspect", "-f", "{{.State.Pid}}", "pausedkept")
		o.ok("pause", "pausedkept")
		o.d.Kill()
		o.start()
		if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Pid}}", "pausedkept"); got != "paused true "+pid {
			t.Fatalf("paused container after a restart: %q, want paused true %s", got, pid)
		}
		checkConsistent(t, o, br)
		o.ok("unpause", "pausedkept")
		if got := o.ok("exec", "pausedkept", "echo", "thawed"); got != "thawed" {
			t.Errorf("exec after unpause: %q", got)
		}
		o.ok("pause", "pausedkept")
		o.d.Kill()
		o.start()
		o.ok("stop", "-t", "1", "pausedkept")
		if got := o.ok("inspect", "-f", "{{.State.Status}}", "pausedkept"); got != "exited" {
			t.Errorf("stop of a paused container after a restart: %q", got)
		}
		o.ok("start", "pausedkept")
		o.ok("pause", "pausedkept")
		o.d.Kill()
		o.start()
		o.ok("rm", "-f", "pausedkept")
		checkConsistent(t, o, br)
	})
}

// Timed SIGKILLs at random moments of a mix of operations, over many
// iterations: after each restart every record loads, the running
// containers keep running and answer exec, and nothing is left that no
// record owns. BERTH_CRASH_ITERATIONS sets the count (default 25; the
// loop also stops after BERTH_CRASH_SECONDS, default 150).
func TestCrashLoop(t *testing.T) {
	o := newOwnDaemon(t)
	br := o.crashNetwork()
	o.ok("network", "create", "--subnet", fmt.Sprintf("10.%d.%d.0/24", 240+rand.IntN(10), rand.IntN(250)), crashNet+"2")
	iters, _ := strconv.Atoi(os.Getenv("BERTH_CRASH_ITERATIONS"))
	if iters <= 0 {
		iters = 25
	}
	secs, _ := strconv.Atoi(os.Getenv("BERTH_CRASH_SECONDS"))
	if secs <= 0 {
		secs = 150
	}
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nRUN echo built > /built && sleep 0.2\nRUN sleep 0.2\n"), 0o644)
	saved := filepath.Join(t.TempDir(), "bb.tar")
	o.ok("save", "-o", saved, "busybox:latest")
	// Pulls come from a registry in this process that sends blobs slowly
	// (about 0.4 s a layer), so the kills land in the manifest, the
	// downloads, the unpacking and the commit of the image.
	pullRef, pullWant := crashPullRegistry(t)
	pulled := func(iter int) bool {
		if r := o.run("image", "inspect", pullRef); r.Code != 0 {
			return false // not pulled (yet): nothing of it may show
		}
		got := o.ok("run", "--rm", pullRef, "sh", "-c", "cd /crashpull && sha256sum *")
		if got != pullWant {
			t.Errorf("iteration %d: the pulled image's files are not what was pushed:\n%s\nwant\n%s", iter, got, pullWant)
		}
		return true
	}
	// A long-lived container must survive every crash untouched.
	o.ok("run", "-d", "--name", "survivor", "--network", crashNet, "-p", "80", "busybox", "sleep", "100000")
	survivorPid := o.ok("inspect", "-f", "{{.State.Pid}}", "survivor")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	seq := 0
	ops := []func() []string{
		func() []string {
			return []string{"run", "-d", "--network", crashNet, "-p", "80", "-v", fmt.Sprintf("cv%d:/data", seq), "busybox", "sleep", "300"}
		},
		func() []string { return []string{"create", "--network", crashNet, "busybox", "true"} },
		func() []string { return []string{"run", "--rm", "busybox", "true"} },
		func() []string { return []string{"build", "-q", "-t", fmt.Sprintf("crashbuild:%d", seq), ctxDir} },
		func() []string { return []string{"load", "-i", saved} },
		func() []string { return []string{"volume", "create", fmt.Sprintf("vol%d", seq)} },
		func() []string { return []string{"commit", "survivor", fmt.Sprintf("crashcommit:%d", seq)} },
		func() []string {
			// Each pull starts from nothing but what an earlier one cut
			// short kept to resume from.
			o.run("rmi", "-f", pullRef)
			return []string{"pull", pullRef}
		},
	}
	// rm -f and stop of whatever is there besides the survivor.
	victim := func(verb ...string) func() []string {
		return func() []string {
			ids := lines(o.run("ps", "-aq", "--no-trunc", "-f", "name=^/crashv").Stdout)
			if len(ids) == 0 {
				return []string{"run", "-d", "--name", fmt.Sprintf("crashv%d", seq), "--network", crashNet, "busybox", "sleep", "300"}
			}
			return append(verb, ids[rng.IntN(len(ids))])
		}
	}
	ops = append(ops, victim("rm", "-f"), victim("stop", "-t", "1"), victim("start"), victim("rm", "-f"),
		victim("network", "connect", crashNet+"2"))
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	done := 0
	for ; done < iters && time.Now().Before(deadline); done++ {
		seq++
		args := ops[rng.IntN(len(ops))]()
		// Many operations finish within ~100 ms: kill between 0 and 400 ms.
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		cmd := o.dr.Command(context.Background(), args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		o.d.Kill()
		waitCmd(cmd, 10*time.Second)
		o.start()
		t.Logf("iteration %d: %v killed after %v", done+1, args, delay)
		checkConsistent(t, o, br)
		checkImageStore(t, o)
		if args[0] == "pull" {
			pulled(done + 1)
		}
		if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor"); got != "running "+survivorPid {
			// A commit cut short leaves it paused (as dockerd would);
			// it must still be operable.
			if got == "paused "+survivorPid {
				o.ok("unpause", "survivor")
			} else {
				t.Fatalf("iteration %d: survivor is %q, want running %s", done+1, got, survivorPid)
			}
		}
		if got := o.ok("exec", "survivor", "echo", "alive"); got != "alive" {
			t.Fatalf("iteration %d: exec into survivor: %q", done+1, got)
		}
		if t.Failed() {
			t.Fatalf("iteration %d left the state inconsistent; log:\n%s", done+1, o.d.LogTail(4000))
		}
	}
	t.Logf("crash loop: %d iterations, each a SIGKILL at a random point and a restart", done)
	// Pulls alone, killed anywhere in their ~1 s (BERTH_CRASH_PULLS,
	// default 8): the manifest, either layer's download, unpacking, the
	// image's commit, or after.
	pulls, _ := strconv.Atoi(os.Getenv("BERTH_CRASH_PULLS"))
	if pulls <= 0 {
		pulls = 8
	}
	for i := 1; i <= pulls; i++ {
		o.run("rmi", "-f", pullRef)
		delay := time.Duration(rng.IntN(1200)) * time.Millisecond
		cmd := o.dr.Command(context.Background(), "pull", pullRef)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		o.d.Kill()
		waitCmd(cmd, 10*time.Second)
		o.start()
		checkConsistent(t, o, br)
		checkImageStore(t, o)
		complete := pulled(done + i)
		t.Logf("pull %d: killed after %v; image complete and right after the restart: %v", i, delay, complete)
		if t.Failed() {
			t.Fatalf("pull %d left the state inconsistent; log:\n%s", i, o.d.LogTail(4000))
		}
	}
	// A pull after all of that completes and is right.
	o.run("rmi", "-f", pullRef)
	o.ok("pull", pullRef)
	if !pulled(done) {
		t.Errorf("the image is not there after a pull")
	}
	checkImageStore(t, o)
	// Every image the loop made is complete: its layers can be read back.
	for _, img := range lines(o.ok("images", "-q", "--no-trunc")) {
		o.ok("create", "--name", "verify-"+img[7:19], img, "true")
		o.ok("export", "-o", filepath.Join(t.TempDir(), "x.tar"), "verify-"+img[7:19])
		o.ok("rm", "verify-"+img[7:19])
	}
}

func waitCmd(cmd *exec.Cmd, timeout time.Duration) {
	ch := make(chan struct{})
	go func() { cmd.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-ch
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkConsistent compares what exists on the host with the records: only
// running containers have monitors, bundles, netns, veths, cgroups, port
// rules and mounts; every rw layer and container directory belongs to a
// container; every record inspects.
func checkConsistent(t *testing.T, o *ownDaemon, bridge string) {
	t.Helper()
	// A monitor reports the exit before it deletes the runtime's state
	// (and with it the cgroups) and exits: give that a moment.
	var problems []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if problems = inconsistencies(t, o, bridge); len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range problems {
		t.Errorf("inconsistent after restart: %s", p)
	}
}

func inconsistencies(t *testing.T, o *ownDaemon, bridge string) []string {
	t.Helper()
	all := map[string]bool{}
	running := map[string]bool{}
	for _, l := range lines(o.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}")) {
		id, st, _ := strings.Cut(l, " ")
		all[id] = true
		if st == "running" || st == "paused" {
			running[id] = true
		}
	}
	for id := range all {
		o.ok("inspect", "-f", "{{.Id}}", id)
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	d := o.d
	// Records on disk.
	for _, n := range testutil.SubdirsOf(filepath.Join(d.Root, "containers")) {
		if !all[n] {
			bad("container dir without a listed container: %s", n)
		}
	}
	// rw layers: complete or half made, each a container's.
	for _, n := range testutil.SubdirsOf(filepath.Join(d.Root, "overlay")) {
		if !hex64.MatchString(n) {
			continue
		}
		if _, err := os.Stat(filepath.Join(d.Root, "overlay", n, "size")); err == nil {
			continue // an image layer
		}
		if !all[n] {
			bad("rw layer of no container: %s", n)
		}
	}
	for id := range all {
		if _, err := os.Stat(filepath.Join(d.Root, "overlay", id, "lower")); err != nil {
			bad("container %s has no rw layer", id[:12])
		}
	}
	// Bundles, netns and monitors: running containers only.
	for _, n := range testutil.SubdirsOf(d.Exec) {
		if hex64.MatchString(n) && !running[n] {
			bad("bundle of a container that is not running: %s", n[:12])
		}
	}
	if ents, err := os.ReadDir(filepath.Join(d.Exec, "netns")); err == nil {
		for _, e := range ents {
			if !running[e.Name()] {
				bad("netns of a container that is not running: %s", e.Name())
			}
		}
	}
	mon := filepath.Join(testutil.BinDir(d.RepoDir), "berth-monitor")
	// One monitor supervisor serves up to 16 containers, so there are at
	// most as many monitor processes as running containers, at least one
	// while any runs, and each running container has its control socket.
	if n := len(testutil.ProcsWithArg(mon, d.Exec)); n > len(running) || (len(running) > 0 && n == 0) {
		bad("%d monitor processes for %d running containers", n, len(running))
	}
	for id := range running {
		if _, err := os.Stat(filepath.Join(d.Exec, id, "monitor.sock")); err != nil {
			bad("running container %s has no monitor socket: %v", id[:12], err)
		}
	}
	// Mounts: each names a running container (rootfs, netns) or is a
	// volume's.
	mounts, err := testutil.MountsUnder(o.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		owner := ""
		for _, part := range strings.Split(m, "/") {
			if hex64.MatchString(part) {
				owner = part
			}
		}
		if owner != "" && !running[owner] {
			bad("mount of a container that is not running: %s", m)
		}
	}
	// cgroups below the daemon's parent.
	_, table := network.DefaultNames(d.Root)
	parent := table // "berth-<hash>", the same derivation as the cgroup parent
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/*")
	for _, cg := range cgs {
		if id := filepath.Base(cg); hex64.MatchString(id) && !running[id] {
			bad("cgroup of a container that is not running: %s", cg)
		}
	}
	// veths on the test network's bridge: one per running container on it.
	onNet := 0
	for id := range running {
		if strings.Contains(o.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", id), `"`+crashNet+`"`) {
			onNet++
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).Output(); err == nil {
		if n := len(lines(string(out))); n != onNet {
			bad("%d veths on %s for %d running containers on the network", n, bridge, onNet)
		}
	}
	// nft port rules carry their container as a comment.
	if out, err := exec.Command("nft", "list", "table", "ip", table).Output(); err == nil {
		for _, m := range regexp.MustCompile(`ctr:([0-9a-f]{64})`).FindAllStringSubmatch(string(out), -1) {
			if !running[m[1]] {
				bad("nft rule of a container that is not running: %s", m[1][:12])
			}
		}
	}
	// The iptables chain names only bridges that exist.
	if rules, err := d.IptablesLeftovers(); err == nil {
		for _, r := range rules {
			f := strings.Fields(r)
			if len(f) > 4 && f[1] == "-A" && (f[3] == "-i" || f[3] == "-o") {
				if _, err := os.Stat("/sys/class/net/" + f[4]); err != nil {
					bad("iptables rule for a bridge that is gone: %s", r)
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// crashPullRegistry serves a registry on loopback that sends blob bodies in
// 32 kB pieces 10 ms apart, holding an image of the busybox fixture plus two
// layers of 1.5 MB random files under /crashpull. It returns the image's
// reference and what `cd /crashpull && sha256sum *` prints in it.
func crashPullRegistry(t *testing.T) (string, string) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = slowWriter{w}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	base, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(env.tarData)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	layers := []ggcrv1.Layer{base}
	var want []string
	for i := 0; i < 2; i++ {
		data := make([]byte, 1536<<10)
		crand.Read(data)
		name := fmt.Sprintf("%d.bin", i)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "crashpull/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: "crashpull/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
		tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
		want = append(want, fmt.Sprintf("%x  %s", sha256.Sum256(data), name))
	}
	img, err := mutate.AppendLayers(ggcrempty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"sh"}
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref := host + "/crash/pull:v1"
	writeImage(t, ref, img)
	return ref, strings.Join(want, "\n")
}

// slowWriter hands the body on in small pieces with a pause between them.
type slowWriter struct{ http.ResponseWriter }

func (w slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 32<<10)
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(10 * time.Millisecond)
		p = p[c:]
	}
	return n, nil
}

// checkImageStore checks the image store with nothing in flight (after a
// restart): every stored blob has the digest it is named by, no temp file
// of an ingest, unpack or load is left (the store sweeps them when it
// opens), and every image layer directory is complete.
func checkImageStore(t *testing.T, o *ownDaemon) {
	t.Helper()
	root := o.d.Root
	for _, pat := range []string{"content/blobs/sha256/.ingest-*", "overlay/.unpack-*", "tmp/load-*", "tmp/docker-import-*"} {
		if m, _ := filepath.Glob(filepath.Join(root, pat)); len(m) > 0 {
			t.Errorf("temp files left after a restart: %v", m)
		}
	}
	blobs := filepath.Join(root, "content", "blobs", "sha256")
	ents, _ := os.ReadDir(blobs)
	for _, e := range ents {
		if !hex64.MatchString(e.Name()) {
			continue
		}
		f, err := os.Open(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Errorf("blob %s: %v", e.Name(), err)
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if got := fmt.Sprintf("%x", h.Sum(nil)); err != nil || got != e.Name() {
			t.Errorf("blob %s is corrupt: its digest is %s (%v)", e.Name()[:12], got[:12], err)
		}
	}
	for _, n := range testutil.SubdirsOf(filepath.Join(root, "overlay")) {
		dir := filepath.Join(root, "overlay", n)
		if !hex64.MatchString(n) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "lower")); err == nil {
			continue // a container's rw layer
		}
		for _, f := range []string{"diff", "size", "link"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("image layer %s is incomplete: %v", n[:12], err)
			}
		}
	}
}
