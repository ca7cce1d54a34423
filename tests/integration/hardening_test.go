package integration

import (
	"context"
	"encoding/json"
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

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/tests/testutil"
)

// A daemon killed with SIGKILL leaves its pid file behind; the next start
// takes it over, even when the pid in it has since been reused by another
// program. Only a live berthd on the same roots blocks a start, and of two
// daemons started at once on the same roots exactly one runs.
func TestDaemonStalePidfile(t *testing.T) {
	o := newOwnDaemon(t)
	o.ok("run", "-d", "--name", "keep", "busybox", "sleep", "300")
	cpid, _ := strconv.Atoi(o.ok("inspect", "-f", "{{.State.Pid}}", "keep"))

	// A live berthd on the same roots: refused, and the first one is unharmed.
	bin := filepath.Join(testutil.BinDir(o.d.RepoDir), "berthd")
	args := []string{"--data-root", o.d.Root, "--exec-root", o.d.Exec, "-H", "unix://" + o.d.Sock,
		"--pidfile", o.d.PidFile, "--bridge", "none"}
	out, err := berthdMustRefuse(t, bin, args...)
	if err == nil || !strings.Contains(string(out), "pid file found, ensure berthd is not running or delete "+o.d.PidFile) {
		t.Fatalf("second daemon on the same roots: %v: %s", err, out)
	}
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "keep"); got != "running" {
		t.Fatalf("first daemon after the refused start: %q", got)
	}
	// Another exec root and pid file but the same data root: refused too.
	other := t.TempDir()
	out, err = berthdMustRefuse(t, bin, "--data-root", o.d.Root, "--exec-root", filepath.Join(other, "exec"),
		"-H", "unix://"+filepath.Join(other, "s.sock"), "--pidfile", filepath.Join(other, "p.pid"), "--bridge", "none")
	if err == nil || !strings.Contains(string(out), "is in use by another berthd") {
		t.Fatalf("second daemon on the same data root: %v: %s", err, out)
	}

	// Crash, and let another program take the pid the file names.
	o.d.Kill()
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if err := os.WriteFile(o.d.PidFile, []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	o.start()
	if got := o.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"); got != "running "+strconv.Itoa(cpid) {
		t.Fatalf("after restart over a stale pid file: %q", got)
	}
	if b, _ := os.ReadFile(o.d.PidFile); strings.TrimSpace(string(b)) != strconv.Itoa(o.d.Pid()) || o.d.Pid() == sleeper.Process.Pid {
		t.Fatalf("pid file not rewritten: %q", b)
	}

	// Two starts racing on the same roots after a crash: exactly one wins.
	o.d.Kill()
	var cmds [2]*exec.Cmd
	done := make(chan int, 2)
	for i := range cmds {
		cmds[i] = exec.Command(bin, args...)
		cmds[i].SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		go func(i int) { cmds[i].Wait(); done <- i }(i)
	}
	var loser int
	select {
	case loser = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("neither racing daemon gave up")
	}
	winner := cmds[1-loser]
	if winner.ProcessState != nil {
		t.Fatalf("both racing daemons exited")
	}
	// Let the winner finish starting so the cleanup can stop it by its pid file.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(o.d.PidFile); strings.TrimSpace(string(b)) == strconv.Itoa(winner.Process.Pid) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if r := o.dr.Run(context.Background(), nil, "version"); r.Code == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := o.ok("inspect", "-f", "{{.State.Status}}", "keep"); got != "running" {
		t.Fatalf("racing winner: %q", got)
	}
	select {
	case i := <-done:
		t.Fatalf("racing daemon %d exited too", i)
	default:
	}
}

// berthdMustRefuse runs berthd expecting it to exit at once; one that is
// still running after a while is stopped and reported.
func berthdMustRefuse(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("berthd %v started instead of refusing: %s", args, out)
	}
	return out, err
}

// buildRemote is POST /build?remote=URL through the client: the status
// (200, or the refusal's) and the stream or the error's message.
func buildRemote(t *testing.T, remote, tag string) (int, string) {
	t.Helper()
	api, err := env.daemon.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := api.ImageBuild(context.Background(), nil, client.ImageBuildOptions{RemoteContext: remote, Tags: []string{tag}, Remove: true})
	if err != nil {
		if st := client.StatusOf(err); st != 0 {
			return st, err.Error()
		}
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return http.StatusOK, string(b)
}

// daemonHTTP is a raw HTTP client of the suite's daemon socket, for the
// tests about the wire itself (bodies the client would never send,
// headers, the shape of an error); everything else goes through
// internal/client (env.daemon.Client).
func daemonHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", env.daemon.Sock)
	}}}
}

// The "#ref:dir" fragment of a git build context never reaches git as an
// option: "#--pathspec-from-file=FILE" made git print the file's lines
// (e.g. /etc/shadow) into the build error. Through the API (the daemon
// clones) and through both CLIs (the client clones).
func TestGitContextFragmentInjection(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	srv := newContextServer(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("TOPSECRET-line-1\nTOPSECRET-line-2\n"), 0o644)
	for _, frag := range []string{"--pathspec-from-file=" + secret, "-q:app", "master..x", "v1~1"} {
		status, b := buildRemote(t, srv.url+"/repo.git#"+frag, "gitinj:t")
		if strings.Contains(b, "TOPSECRET") {
			t.Fatalf("#%s: host file leaked into the answer: %d %s", frag, status, b)
		}
		// berthd names the ref after a colon; dockerd 20.10 quotes it
		// ("invalid refspec 'REF'"). Both refuse before git runs.
		ref, _, _ := strings.Cut(frag, ":")
		want := "invalid refspec"
		if env.daemon.Target == testutil.TargetBerthd {
			want += ": " + ref
		}
		if status/100 == 2 || !strings.Contains(b, want) {
			t.Errorf("#%s: want an invalid refspec error, got %d %s", frag, status, b)
		}
	}
	// A sub-directory that leaves the checkout: refused, never built.
	for _, sub := range []string{"../../../../etc", "/etc"} {
		status, b := buildRemote(t, srv.url+"/repo.git#master:"+sub, "gitinj:t")
		// dockerd clamps the path to the repository root and builds that;
		// berthd refuses it. Either way no host directory is the context.
		if env.daemon.Target == testutil.TargetBerthd && (status/100 == 2 || !strings.Contains(b, "not")) {
			t.Errorf("#master:%s: %d %s", sub, status, b)
		}
	}
	if r := env.drivers[0].Run(context.Background(), nil, "image", "inspect", "gitinj:t"); r.Code == 0 {
		t.Errorf("an image was built from a refused context")
		env.drivers[0].Run(context.Background(), nil, "rmi", "-f", "gitinj:t")
	}
	forEachDriver(t, []scenario{{"cli-clone", func(c *tcase) {
		r := c.runAt("", nil, []string{"TMPDIR=" + c.tempDir()}, "build", srv.url+"/repo.git#--pathspec-from-file="+secret)
		if r.Code == 0 || strings.Contains(r.Stdout+r.Stderr, "TOPSECRET") || !strings.Contains(r.Stderr, "invalid refspec") {
			c.Errorf("%s", r)
		}
	}}})
}

// A JSON body must be declared application/json, as dockerd requires: a
// web page can make a browser send text/plain or form bodies anywhere
// without a preflight, so without the check a page could create a
// privileged container on a daemon listening on TCP. Nothing is created.
func TestCrossSiteJSONBodies(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	cl := daemonHTTP()
	dr := env.drivers[0]
	post := func(path, ct, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://d/v1.41"+path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	create := `{"Image":"busybox","Cmd":["true"],"HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain;application/json"} {
		code, body := post("/containers/create?name=csrf-victim", ct, create)
		want := `{"message":"unsupported Content-Type header (` + ct + `): must be 'application/json'"}`
		if strings.Contains(ct, ";application") {
			want = `{"message":"malformed Content-Type header (` + ct + `): mime: invalid media parameter"}`
		}
		if env.daemon.Target != testutil.TargetBerthd {
			want = "must be 'application/json'" // dockerd 20.10 words it differently
		}
		if code != 400 || !strings.Contains(body, want) {
			t.Errorf("create with %s: %d %s", ct, code, body)
		}
	}
	if code, body := post("/containers/create?name=csrf-victim", "", create); code != 400 || !strings.Contains(body, "Content-Type") {
		t.Errorf("create with a body and no Content-Type: %d %s", code, body)
	}
	if r := dr.Run(context.Background(), nil, "inspect", "csrf-victim"); r.Code == 0 {
		dr.Run(context.Background(), nil, "rm", "-f", "csrf-victim")
		t.Fatal("a container was created from a non-JSON request")
	}
	for _, p := range []struct{ path, body, check string }{
		{"/volumes/create", `{"Name":"csrf-vol"}`, "volume inspect csrf-vol"},
		{"/networks/create", `{"Name":"csrf-net"}`, "network inspect csrf-net"},
	} {
		if code, body := post(p.path, "text/plain", p.body); code != 400 {
			t.Errorf("%s with text/plain: %d %s", p.path, code, body)
		}
		if r := dr.Run(context.Background(), nil, strings.Fields(p.check)...); r.Code == 0 {
			t.Errorf("%s: created from a text/plain request", p.path)
		}
	}
	// JSON with parameters, and no body with no type, still work.
	code, body := post("/volumes/create", "application/json; charset=utf-8", `{"Name":"csrf-ok"}`)
	if code != 201 {
		t.Fatalf("application/json with charset: %d %s", code, body)
	}
	dr.Run(context.Background(), nil, "volume", "rm", "csrf-ok")
	// An empty body is an empty request (moby's httputils.ReadJSON, current
	// dockerd). dockerd 20.10 (API 1.41) decoded the body itself and
	// answered an empty one with 400 "got EOF while reading request body";
	// moby's ReadJSON came with docker 23 (API 1.42).
	if env.daemon.Target == testutil.TargetDockerd && !newCase(t, dr).apiAtLeast("1.42") {
		if code, body := post("/volumes/create", "", ""); code != 400 || !strings.Contains(body, "got EOF while reading request body") {
			t.Errorf("empty body without Content-Type, dockerd 20.10: %d %s", code, body)
		}
	} else if code, body := post("/volumes/create", "", ""); code != 201 {
		t.Errorf("empty body without Content-Type: %d %s", code, body)
	} else {
		var v struct{ Name string }
		json.Unmarshal([]byte(body), &v)
		dr.Run(context.Background(), nil, "volume", "rm", v.Name)
	}
}

// The real clients send the header: docker-py (python3-docker) creates,
// starts and removes a container and a volume.
func TestPythonDockerClient(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	if err := exec.Command(python3(), "-c", "import docker").Run(); err != nil {
		t.Skip("python3-docker is not installed")
	}
	script := `
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41")
v = c.volumes.create(name="pyclient-vol")
out = c.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"], volumes={"pyclient-vol": {"bind": "/v", "mode": "rw"}}, remove=True)
print(out.decode().strip())
n = c.networks.create("pyclient-net")
ct = c.containers.create("busybox", ["sleep", "30"], name="pyclient-ct")
n.connect(ct)
ct.start()
print(ct.exec_run(["echo", "exec-ok"]).output.decode().strip())
ct.remove(force=True)
n.remove()
v.remove()
`
	out, err := exec.Command(python3(), "-c", script, env.daemon.Sock).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "py\nexec-ok" {
		dr := env.drivers[0]
		dr.Run(context.Background(), nil, "rm", "-f", "pyclient-ct")
		dr.Run(context.Background(), nil, "network", "rm", "pyclient-net")
		dr.Run(context.Background(), nil, "volume", "rm", "pyclient-vol")
		t.Fatalf("docker-py: %v\n%s", err, out)
	}
}

// A container that shares a volume plants "x -> /" in it; a second
// container mounting the volume with volume-subpath=x must not get the
// host's root. Symlinks that stay inside the volume still work, and a
// container swapping a directory for an escaping symlink in a loop never
// gets a host path mounted. Through the docker CLI (berth's has no
// volume-subpath).
func TestVolumeSubpathEscape(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	var dr testutil.Driver
	for _, d := range env.drivers {
		if d.Name == "docker" {
			dr = d
		}
	}
	if dr.Name == "" {
		t.Skip("no docker CLI driver")
	}
	c := newCase(t, dr)
	c.needAPI("1.45") // volume-subpath came with API 1.45 (docker 26)
	marker := c.writeFile(c.tempDir(), "host-marker", "HOST-ONLY-CONTENT\n")
	vol := c.name("subvol")
	c.ok("volume", "create", vol)
	defer c.run("volume", "rm", "-f", vol)
	c.ok(runArgs("--rm", "-v", vol+":/data", "busybox", "sh", "-c",
		"mkdir /data/ok && echo inside > /data/ok/f && ln -s / /data/x && ln -s ok /data/rel && ln -s ../../.. /data/up")...)
	for _, sub := range []string{"x", "up", "x/tmp", "rel/../x"} {
		r := c.run(runArgs("--rm", "--mount", "type=volume,src="+vol+",dst=/m,volume-subpath="+sub, "busybox", "cat", "/m"+marker)...)
		if strings.Contains(r.Stdout, "HOST-ONLY") {
			t.Fatalf("subpath %s: the host's root was mounted: %s", sub, r)
		}
		if r.Code == 0 {
			t.Errorf("subpath %s: escaping subpath accepted: %s", sub, r)
		}
	}
	if got := c.ok(runArgs("--rm", "--mount", "type=volume,src="+vol+",dst=/m,volume-subpath=rel", "busybox", "cat", "/m/f")...); got != "inside" {
		t.Errorf("in-volume symlink subpath: %q", got)
	}
	// The race: one container flips "sw" between a directory and "sw -> /"
	// as fast as it can while others start with volume-subpath=sw.
	flipper := c.detached("flip", []string{"-v", vol + ":/data"}, "sh", "-c",
		"while :; do mkdir -p /data/d; mv -T /data/d /data/sw 2>/dev/null; rm -rf /data/sw; ln -s / /data/sw; rm -f /data/sw; done")
	defer c.run("rm", "-f", flipper)
	seen := 0
	for i := 0; i < 15; i++ {
		r := c.run(runArgs("--rm", "--mount", "type=volume,src="+vol+",dst=/m,volume-subpath=sw", "busybox", "cat", "/m"+marker)...)
		if strings.Contains(r.Stdout, "HOST-ONLY") {
			t.Fatalf("attempt %d: the host's root was mounted through a racing symlink", i)
		}
		if r.Code == 0 {
			seen++
		}
	}
	t.Logf("%d of 15 racing starts mounted a directory, none the host root", seen)
	if m, _ := testutil.MountsUnder(filepath.Join(env.daemon.Exec, "subpaths")); len(m) > 0 {
		t.Errorf("staged subpath mounts left: %v", m)
	}
}

// A running container swaps a directory for a symlink to a host directory
// in a loop while it is exported and committed: the tar must never hold a
// host file (the CVE-2018-15664 class).
func TestExportCommitSymlinkRace(t *testing.T) {
	forEachDriver(t, []scenario{{"swap-loop", func(c *tcase) {
		// Many files, so the walker is inside /w/d long enough for a swap
		// to land between its readdir and its opens; the host directory
		// has files of the same names.
		hostDir := c.tempDir()
		for i := 1; i <= 1500; i++ {
			c.writeFile(hostDir, fmt.Sprintf("f%d", i), "HOST-SECRET\n")
		}
		ctr := c.detached("swapper", nil, "sh", "-c",
			"mkdir -p /w/d && for i in $(seq 1500); do echo container-fake > /w/d/f$i; done && touch /w/ready && "+
				"while :; do mv /w/d /w/d.real; ln -s "+hostDir+" /w/d; rm /w/d; mv /w/d.real /w/d; done")
		c.eventually(20*time.Second, "the swapper is ready", func() bool {
			return c.run("exec", ctr, "test", "-e", "/w/ready").Code == 0
		})
		defer c.run("rm", "-f", ctr)
		for i := 0; i < 8; i++ {
			r := c.run("export", ctr)
			if strings.Contains(r.Stdout, "HOST-SECRET") {
				c.Fatalf("export %d carried a host file", i)
			}
			if r.Code != 0 {
				c.Fatalf("export %d: %s", i, r.Stderr)
			}
		}
		img := c.image("swapcommit")
		for i := 0; i < 4; i++ {
			c.ok("commit", ctr, img)
			out := c.run(runArgs("--rm", "--entrypoint", "sh", img, "-c", "cat /w/d/* /w/d.real/* 2>/dev/null")...)
			if strings.Contains(out.Stdout, "HOST-SECRET") {
				c.Fatalf("commit %d carried a host file", i)
			}
		}
		c.run("rmi", "-f", img)
		if got := c.inspect(ctr, "{{.State.Status}}"); got != "running" {
			c.Fatalf("container after export/commit: %s", got)
		}
	}}})
}
