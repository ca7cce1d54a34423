package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// project is one compose project written by a test into its own directory
// and driven by `berth compose`; everything labelled with its name is
// removed at cleanup, whatever the test did.
type project struct {
	t    *testing.T
	name string
	dir  string
	bin  string
	env  []string
	ctx  context.Context
}

// newProject writes compose.yaml into a fresh directory named like the
// project (so the default project name is the directory's).
func newProject(t *testing.T, yaml string) *project {
	t.Helper()
	if env == nil {
		t.Skip("no daemon")
	}
	bin := filepath.Join(testutil.BinDir(env.daemon.RepoDir), "berth")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/berth not built")
	}
	base, err := os.MkdirTemp("/tmp", "bcp")
	if err != nil {
		t.Fatal(err)
	}
	name := "cp" + randHex(4)
	dir := filepath.Join(base, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	p := &project{t: t, name: name, dir: dir, bin: bin, ctx: ctx,
		env: append(testutil.DockerDriver(env.daemon, env.cfgDir).Env, "BERTH_HOST=unix://"+env.daemon.Sock, "NO_COLOR=")}
	t.Cleanup(func() {
		p.purge()
		cancel()
		os.RemoveAll(base)
	})
	p.write("compose.yaml", yaml)
	return p
}

func (p *project) write(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// compose runs `berth compose args...` in the project directory.
func (p *project) compose(args ...string) testutil.Result {
	return p.composeIn(nil, args...)
}

func (p *project) composeIn(in io.Reader, args ...string) testutil.Result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append([]string{"compose"}, args...)...)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.WaitDelay = p.dir, p.env, in, 5*time.Second
	return testutil.RunCommand(ctx, cmd, args)
}

// ok requires exit 0 and returns trimmed stdout.
func (p *project) ok(args ...string) string {
	p.t.Helper()
	r := p.compose(args...)
	if r.Code != 0 {
		p.t.Fatalf("want exit 0: %s", r)
	}
	return r.Out()
}

// docker runs the real docker CLI against the test daemon.
func (p *project) docker(args ...string) string {
	p.t.Helper()
	r := testutil.DockerDriver(env.daemon, env.cfgDir).Run(p.ctx, nil, args...)
	if r.Code != 0 {
		p.t.Fatalf("docker: %s", r)
	}
	return r.Out()
}

// leftovers lists every container, network and volume carrying the
// project's label.
func (p *project) leftovers() []string {
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	label := "label=com.docker.compose.project=" + p.name
	var out []string
	for _, args := range [][]string{
		{"ps", "-a", "--filter", label, "--format", "container {{.Names}}"},
		{"network", "ls", "--filter", label, "--format", "network {{.Name}}"},
		{"volume", "ls", "--filter", label, "--format", "volume {{.Name}}"},
	} {
		out = append(out, lines(dr.Run(context.Background(), nil, args...).Stdout)...)
	}
	return out
}

// wantNothingLeft fails the test if anything of the project remains.
func (p *project) wantNothingLeft(what string) {
	p.t.Helper()
	if left := p.leftovers(); len(left) > 0 {
		p.t.Errorf("%s left: %v", what, left)
	}
}

// purge removes everything the project may have left (the safety net).
func (p *project) purge() {
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	ctx := context.Background()
	label := "label=com.docker.compose.project=" + p.name
	if ids := lines(dr.Run(ctx, nil, "ps", "-aq", "--filter", label).Stdout); len(ids) > 0 {
		dr.Run(ctx, nil, append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	if ids := lines(dr.Run(ctx, nil, "network", "ls", "-q", "--filter", label).Stdout); len(ids) > 0 {
		dr.Run(ctx, nil, append([]string{"network", "rm"}, ids...)...)
	}
	if ids := lines(dr.Run(ctx, nil, "volume", "ls", "-q", "--filter", label).Stdout); len(ids) > 0 {
		dr.Run(ctx, nil, append([]string{"volume", "rm", "-f"}, ids...)...)
	}
}

// eventually polls cond every 100ms until it holds or d passes.
func (p *project) eventually(d time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webApp is the composetest shape with busybox: web answers HTTP on port
// 80 from a named volume, client reaches it by service name and by alias.
const webApp = `
services:
  web:
    image: busybox
    init: true
    command: ["sh", "-c", "echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    volumes:
      - www:/www
    networks:
      default:
        aliases: [frontdoor]
    labels:
      tier: front
    environment:
      GREETING: hi
    stop_grace_period: 1s
  client:
    image: busybox
    init: true
    command: ["sleep", "600"]
    depends_on: [web]
    stop_grace_period: 1s
volumes:
  www:
`

// httpVia fetches / from host:80 inside the client container with nc.
func (p *project) httpVia(host string) string {
	p.t.Helper()
	r := p.compose("exec", "-T", "client", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc "+host+" 80")
	return r.Stdout
}

func TestComposeUpPsDNSDown(t *testing.T) {
	p := newProject(t, webApp)
	r := p.compose("up", "-d")
	if r.Code != 0 {
		t.Fatalf("up: %s", r)
	}
	for _, want := range []string{"Network " + p.name + "_default  Created", "Container " + p.name + "-web-1  Started"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("up progress: want %q in:\n%s", want, r.Stderr)
		}
	}
	ps := p.ok("ps")
	for _, n := range []string{p.name + "-web-1", p.name + "-client-1"} {
		if !strings.Contains(ps, n) {
			t.Errorf("ps: want %s in:\n%s", n, ps)
		}
	}
	if ids := lines(p.ok("ps", "-q")); len(ids) != 2 {
		t.Errorf("ps -q: %v", ids)
	}
	// Compose's labels, as docker compose and docker-compose v1 look for them.
	labels := p.docker("inspect", "-f", `{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.container-number"}} {{index .Config.Labels "com.docker.compose.oneoff"}} {{index .Config.Labels "tier"}}`, p.name+"-web-1")
	if labels != p.name+" web 1 False front" {
		t.Errorf("labels: %q", labels)
	}
	if h := p.docker("inspect", "-f", `{{index .Config.Labels "com.docker.compose.config-hash"}}`, p.name+"-web-1"); len(h) != 64 {
		t.Errorf("config-hash label %q", h)
	}
	// Service name and alias resolve over the project network.
	p.eventually(20*time.Second, "web by service name", func() bool {
		return strings.Contains(p.httpVia("web"), "hello-from-web")
	})
	if out := p.httpVia("frontdoor"); !strings.Contains(out, "hello-from-web") {
		t.Errorf("by alias: %q", out)
	}
	if out := p.ok("exec", "-T", "web", "sh", "-c", "echo $GREETING"); out != "hi" {
		t.Errorf("exec env: %q", out)
	}
	if ls := p.ok("ls"); !strings.Contains(ls, p.name) || !strings.Contains(ls, "running(2)") {
		t.Errorf("ls:\n%s", ls)
	}
	if cfg := p.ok("config", "--services"); len(lines(cfg)) != 2 {
		t.Errorf("config --services: %q", cfg)
	}
	// stop keeps the containers (ps -a shows them), start brings them back.
	p.ok("stop")
	if n := len(lines(p.ok("ps", "-q"))); n != 0 {
		t.Errorf("ps after stop: %d running", n)
	}
	if n := len(lines(p.ok("ps", "-a", "-q"))); n != 2 {
		t.Errorf("ps -a after stop: %d", n)
	}
	p.ok("start")
	if n := len(lines(p.ok("ps", "-q"))); n != 2 {
		t.Errorf("ps after start: %d", n)
	}
	r = p.compose("down", "--volumes")
	if r.Code != 0 {
		t.Fatalf("down: %s", r)
	}
	p.wantNothingLeft("down --volumes")
	if out := p.ok("ps", "-a", "-q"); out != "" {
		t.Errorf("ps after down: %q", out)
	}
}

func TestComposeRecreateAndScale(t *testing.T) {
	p := newProject(t, `
services:
  app:
    image: busybox
    init: true
    command: ["sleep", "600"]
    stop_grace_period: 1s
    environment:
      VERSION: "1"
    volumes:
      - /scratch
  other:
    image: busybox
    init: true
    command: ["sleep", "600"]
    stop_grace_period: 1s
`)
	p.ok("up", "-d")
	id := func(n string) string { return p.docker("inspect", "-f", "{{.Id}}", p.name+"-"+n) }
	app1, other1 := id("app-1"), id("other-1")
	p.ok("exec", "-T", "app", "sh", "-c", "echo kept > /scratch/f")
	// Unchanged: nothing is recreated.
	p.ok("up", "-d")
	if id("app-1") != app1 || id("other-1") != other1 {
		t.Errorf("unchanged project recreated containers")
	}
	// A changed service is recreated, the other one is not; the anonymous
	// volume moves to the new container.
	p.write("compose.yaml", strings.Replace(mustRead(t, filepath.Join(p.dir, "compose.yaml")), `VERSION: "1"`, `VERSION: "2"`, 1))
	r := p.compose("up", "-d")
	if r.Code != 0 {
		t.Fatalf("up after change: %s", r)
	}
	if id("app-1") == app1 {
		t.Errorf("changed service not recreated")
	}
	if id("other-1") != other1 {
		t.Errorf("unchanged service recreated")
	}
	if out := p.ok("exec", "-T", "app", "sh", "-c", "echo $VERSION; cat /scratch/f"); out != "2\nkept" {
		t.Errorf("after recreate: %q", out)
	}
	anon := p.docker("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", p.name+"-app-1")
	// --no-recreate keeps, --force-recreate replaces.
	app2 := id("app-1")
	p.write("compose.yaml", strings.Replace(mustRead(t, filepath.Join(p.dir, "compose.yaml")), `VERSION: "2"`, `VERSION: "3"`, 1))
	p.ok("up", "-d", "--no-recreate")
	if id("app-1") != app2 {
		t.Errorf("--no-recreate recreated")
	}
	p.ok("up", "-d", "--force-recreate", "other")
	if id("other-1") == other1 {
		t.Errorf("--force-recreate other kept the container")
	}
	// Scale up and down: containers are numbered, extras removed.
	p.ok("up", "-d", "--scale", "app=3", "--no-recreate")
	names := p.docker("ps", "--filter", "label=com.docker.compose.service=app", "--filter", "label=com.docker.compose.project="+p.name, "--format", "{{.Names}}")
	for _, n := range []string{"-app-1", "-app-2", "-app-3"} {
		if !strings.Contains(names, p.name+n) {
			t.Errorf("scale 3: want %s in %q", p.name+n, names)
		}
	}
	p.ok("scale", "app=1")
	if n := len(lines(p.ok("ps", "-q", "app"))); n != 1 {
		t.Errorf("scale back to 1: %d containers", n)
	}
	// A service dropped from the file leaves an orphan: warned about, then
	// removed with --remove-orphans.
	yaml := mustRead(t, filepath.Join(p.dir, "compose.yaml"))
	p.write("compose.yaml", yaml[:strings.Index(yaml, "  other:")])
	if r := p.compose("up", "-d", "--no-recreate"); r.Code != 0 || !strings.Contains(r.Stderr, "Found orphan containers") {
		t.Errorf("orphan warning: %s", r)
	}
	p.ok("up", "-d", "--no-recreate", "--remove-orphans")
	if r := testutil.DockerDriver(env.daemon, env.cfgDir).Run(p.ctx, nil, "inspect", p.name+"-other-1"); r.Code == 0 {
		t.Errorf("--remove-orphans kept other-1")
	}
	p.ok("down", "-v", "-t", "1")
	p.wantNothingLeft("down -v")
	// The anonymous volume the recreated container inherited goes too.
	if r := testutil.DockerDriver(env.daemon, env.cfgDir).Run(p.ctx, nil, "volume", "inspect", anon); r.Code == 0 {
		t.Errorf("down -v kept the inherited anonymous volume %s", anon)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComposeAttachedAndLogs(t *testing.T) {
	p := newProject(t, `
services:
  job:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo job-says-hi; exit 3"]
  idle:
    image: busybox
    init: true
    command: ["sh", "-c", "echo idle-up; sleep 600"]
`)
	r := p.compose("up", "--exit-code-from", "job", "-t", "1")
	if r.Code != 3 {
		t.Fatalf("up --exit-code-from job: want exit 3: %s", r)
	}
	// Lines are prefixed with the container name, padded to the longest.
	if !strings.Contains(r.Stdout, p.name+"-job-1   | job-says-hi") {
		t.Errorf("attached output:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, p.name+"-job-1 exited with code 3") {
		t.Errorf("exit line missing:\n%s", r.Stdout)
	}
	if st := p.docker("inspect", "-f", "{{.State.Running}}", p.name+"-idle-1"); st != "false" {
		t.Errorf("idle still running after abort: %s", st)
	}
	out := p.ok("logs", "--no-color", "job")
	if out != p.name+"-job-1  | job-says-hi" {
		t.Errorf("logs job: %q", out)
	}
	out = p.ok("logs", "--no-color", "--tail", "1")
	if !strings.Contains(out, "job-says-hi") || !strings.Contains(out, "idle-up") {
		t.Errorf("logs --tail 1: %q", out)
	}
	// --ansi always colours the prefix.
	if out := p.ok("--ansi", "always", "logs", "job"); !strings.Contains(out, "\033[") {
		t.Errorf("coloured logs: %q", out)
	}
	p.ok("down")
	p.wantNothingLeft("down")
}

func TestComposeRunDependsOn(t *testing.T) {
	p := newProject(t, `
services:
  init:
    image: busybox
    command: ["sh", "-c", "echo migrated > /shared/state"]
    volumes: [shared:/shared]
  app:
    image: busybox
    init: true
    command: ["sleep", "600"]
    working_dir: /shared
    user: "0"
    hostname: apphost
    extra_hosts: ["db.example:10.1.2.3"]
    volumes: [shared:/shared]
    depends_on:
      init:
        condition: service_completed_successfully
volumes:
  shared:
`)
	// --wait accepts the init job having exited 0.
	p.ok("up", "-d", "--wait")
	if out := p.ok("exec", "-T", "app", "cat", "state"); out != "migrated" {
		t.Errorf("init ran before app: %q", out)
	}
	if out := p.ok("exec", "-T", "app", "sh", "-c", "hostname; grep db.example /etc/hosts | cut -f1"); !strings.HasPrefix(out, "apphost\n10.1.2.3") {
		t.Errorf("hostname/extra_hosts: %q", out)
	}
	// run: a one-off container, removed with --rm.
	if out := p.ok("run", "--rm", "--no-deps", "-T", "-e", "X=ran", "app", "sh", "-c", "echo $X"); out != "ran" {
		t.Errorf("run --rm: %q", out)
	}
	if out := p.docker("ps", "-aq", "--filter", "label=com.docker.compose.oneoff=True", "--filter", "label=com.docker.compose.project="+p.name); out != "" {
		t.Errorf("run --rm left %q", out)
	}
	nm := p.ok("run", "-d", "--name", p.name+"-oneoff", "app")
	if nm != p.name+"-oneoff" {
		t.Errorf("run -d printed %q", nm)
	}
	// down removes one-off containers too.
	p.ok("down", "-v", "-t", "1")
	p.wantNothingLeft("down -v")
}

func TestComposeBadInput(t *testing.T) {
	t.Run("invalid-file", func(t *testing.T) {
		p := newProject(t, "services:\n  web:\n    image: busybox\n    ports: \"80\"\n")
		r := p.compose("up", "-d")
		if r.Code == 0 || !strings.Contains(r.Stderr, filepath.Join(p.dir, "compose.yaml")) || !strings.Contains(r.Stderr, "services.web.ports") {
			t.Errorf("invalid file: %s", r)
		}
		p.wantNothingLeft("invalid file")
	})
	t.Run("cycle", func(t *testing.T) {
		p := newProject(t, "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n")
		r := p.compose("up", "-d")
		if r.Code == 0 || !strings.Contains(r.Stderr, "dependency cycle detected") || !strings.Contains(r.Stderr, "a -> b -> a") && !strings.Contains(r.Stderr, "b -> a -> b") {
			t.Errorf("cycle: %s", r)
		}
		p.wantNothingLeft("cycle")
	})
	t.Run("missing-image", func(t *testing.T) {
		p := newProject(t, "services:\n  ghost:\n    image: 127.0.0.1:1/nope/ghost:v1\n")
		r := p.compose("up", "-d")
		if r.Code == 0 || !strings.Contains(r.Stderr, `service "ghost"`) || !strings.Contains(r.Stderr, "pull") {
			t.Errorf("missing image: %s", r)
		}
		p.wantNothingLeft("missing image")
	})
	t.Run("wait-failing-service", func(t *testing.T) {
		p := newProject(t, `
services:
  good:
    image: busybox
    init: true
    command: ["sleep", "600"]
  broken:
    image: busybox
    command: ["sh", "-c", "exit 4"]
`)
		r := p.compose("up", "-d", "--wait")
		if r.Code == 0 || !strings.Contains(r.Stderr, p.name+"-broken-1") {
			t.Errorf("up --wait: %s", r)
		}
		// down after a failed up removes everything up made.
		p.ok("down", "-t", "1")
		p.wantNothingLeft("down after failed up")
	})
	t.Run("unknown-service", func(t *testing.T) {
		p := newProject(t, webApp)
		r := p.compose("up", "-d", "nosuch")
		if r.Code == 0 || !strings.Contains(r.Stderr, "no such service: nosuch") {
			t.Errorf("unknown service: %s", r)
		}
		p.wantNothingLeft("unknown service")
	})
}

// The composetest shape end to end on berthd: a web service built from a
// Dockerfile, published on a host port, counting visits in a second service
// it reaches by name.
func TestComposeBuildPublishCount(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(`
services:
  web:
    build:
      context: ./web
      args:
        GREETING: Hello World!
    ports:
      - "127.0.0.1:%d:8000"
    depends_on: [counter]
  counter:
    image: busybox
    init: true
    command: ["sh", "-c", "n=0; while true; do n=$$((n+1)); echo $$n | nc -l -p 6379 >/dev/null; done"]
`, port))
	if err := os.Mkdir(filepath.Join(p.dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.write("web/index", "#!/bin/sh\necho Content-Type: text/plain\necho\necho \"GREETING I have been seen $(nc counter 6379 </dev/null) times.\"\n")
	p.write("web/Dockerfile", "FROM busybox\nARG GREETING\nCOPY index /cgi-bin/index\n"+
		"RUN sed -i \"s/GREETING/$GREETING/\" /cgi-bin/index && chmod +x /cgi-bin/index\n"+
		"CMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/\"]\n")
	r := p.compose("build")
	if r.Code != 0 && strings.Contains(r.Stderr, "501") {
		t.Skipf("the daemon has no builder yet: %s", r.Stderr)
	}
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	t.Cleanup(func() {
		testutil.DockerDriver(env.daemon, env.cfgDir).Run(context.Background(), nil, "rmi", "-f", p.name+"-web")
	})
	p.ok("up", "-d")
	url := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/index", port)
	get := func() string { return httpBody(url) }
	var first string
	p.eventually(20*time.Second, "web answering", func() bool {
		first = get()
		return strings.HasPrefix(first, "Hello World! I have been seen")
	})
	second := get()
	if first == second || !strings.HasPrefix(second, "Hello World! I have been seen") {
		t.Errorf("counter did not grow: %q then %q", first, second)
	}
	// up --build rebuilds, and the changed image recreates the container.
	p.write("compose.yaml", strings.Replace(mustRead(t, filepath.Join(p.dir, "compose.yaml")), "Hello World!", "Hello Again!", 1))
	if r := p.compose("up", "-d", "--build"); r.Code != 0 {
		t.Fatalf("up --build: %s", r)
	}
	p.eventually(20*time.Second, "rebuilt web answering", func() bool {
		return strings.HasPrefix(get(), "Hello Again! I have been seen")
	})
	p.ok("down", "--rmi", "local", "-t", "1")
	p.wantNothingLeft("down --rmi local")
	if r := testutil.DockerDriver(env.daemon, env.cfgDir).Run(context.Background(), nil, "image", "inspect", p.name+"-web"); r.Code == 0 {
		t.Errorf("down --rmi local kept the built image")
	}
}

// httpBody GETs url from the host; "" on any error.
func httpBody(url string) string {
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// Every key of the seed's list lands in the container's config as Docker
// Compose puts it there.
func TestComposeKeys(t *testing.T) {
	p := newProject(t, `
services:
  main:
    image: busybox
    entrypoint: ["sh", "-c"]
    command: ["echo $$A $$B $$C; sleep 600"]
    environment:
      A: from-map
    env_file: [vars.env]
    expose: ["7000", "7001-7002/udp"]
    ports:
      - "127.0.0.1::8080"
      - target: 9090
        published: "0"
        protocol: udp
    volumes:
      - named:/named
      - ./rel:/rel:ro
      - /anon
      - type: tmpfs
        target: /scratch
    networks:
      back:
        aliases: [main-alias]
      default:
    dns: [10.9.9.9]
    dns_search: [corp.example]
    extra_hosts: ["gw.example:10.1.1.1"]
    labels:
      com.example.role: main
    working_dir: /rel
    user: "1000:1000"
    hostname: mainhost
    stop_grace_period: 3s
    stop_signal: SIGUSR1
    tty: true
    stdin_open: true
    init: true
    restart: on-failure:2
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
  peer:
    image: busybox
    command: ["sleep", "600"]
    stop_grace_period: 1s
    volumes_from: ["main:ro"]
    network_mode: "service:main"
    deploy:
      restart_policy:
        condition: on-failure
        max_attempts: 5
  linker:
    image: busybox
    command: ["sleep", "600"]
    stop_grace_period: 1s
    links: ["main:buddy"]
networks:
  back:
    driver: bridge
    driver_opts:
      com.example.opt: "1"
    labels:
      com.example.net: back
volumes:
  named:
`)
	p.write("vars.env", "B=from-file\nC=${HOSTVAR:-defaulted}\n")
	if err := os.Mkdir(filepath.Join(p.dir, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := p.compose("-p", p.name, "up", "-d")
	if r.Code != 0 {
		t.Fatalf("up: %s", r)
	}
	main := p.name + "-main-1"
	checks := map[string]string{
		"{{json .Config.Entrypoint}}":                                                        `["sh","-c"]`,
		"{{.Config.WorkingDir}} {{.Config.User}}":                                            "/rel 1000:1000",
		"{{.Config.Hostname}}":                                                               "mainhost",
		"{{.Config.StopSignal}} {{.Config.StopTimeout}}":                                     "SIGUSR1 3",
		"{{.Config.Tty}} {{.Config.OpenStdin}}":                                              "true true",
		`{{index .Config.Labels "com.example.role"}}`:                                        "main",
		"{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}": "on-failure:2",
		"{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}":                                    "67108864 500000000",
		"{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}}":                            `["10.9.9.9"] ["corp.example"]`,
		"{{json .HostConfig.ExtraHosts}}":                                                    `["gw.example:10.1.1.1"]`,
		"{{.HostConfig.Init}}":                                                               "true",
		`{{index .HostConfig.Tmpfs "/scratch"}}|{{len .Config.Volumes}}`:                     "|1",
	}
	for f, want := range checks {
		if got := p.docker("inspect", "-f", f, main); got != want {
			t.Errorf("%s: got %q, want %q", f, got, want)
		}
	}
	env := p.docker("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", main)
	for _, kv := range []string{"A=from-map", "B=from-file", "C=defaulted"} {
		if !strings.Contains(env, kv) {
			t.Errorf("env: want %s in %q", kv, env)
		}
	}
	exposed := p.docker("inspect", "-f", "{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}", main)
	for _, port := range []string{"7000/tcp", "7001/udp", "7002/udp", "8080/tcp", "9090/udp"} {
		if !strings.Contains(exposed, port) {
			t.Errorf("exposed: want %s in %q", port, exposed)
		}
	}
	binds := p.docker("inspect", "-f", "{{json .HostConfig.Binds}}", main)
	for _, b := range []string{p.name + "_named:/named", filepath.Join(p.dir, "rel") + ":/rel:ro"} {
		if !strings.Contains(binds, b) {
			t.Errorf("binds: want %s in %s", b, binds)
		}
	}
	nets := p.docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}} {{end}}", main)
	if !strings.Contains(nets, p.name+"_back=") || !strings.Contains(nets, "main-alias") || !strings.Contains(nets, p.name+"_default=") {
		t.Errorf("networks: %q", nets)
	}
	if opt := p.docker("network", "inspect", "-f", `{{index .Options "com.example.opt"}} {{index .Labels "com.example.net"}} {{index .Labels "com.docker.compose.network"}}`, p.name+"_back"); opt != "1 back back" {
		t.Errorf("network options/labels: %q", opt)
	}
	// Links go in HostConfig and, as docker compose sets them, on the
	// endpoints (where dockerd reports them for user networks).
	if links := p.docker("inspect", "-f", "{{json .HostConfig.Links}}{{range .NetworkSettings.Networks}}{{json .Links}}{{end}}", p.name+"-linker-1"); !strings.Contains(links, "buddy") {
		t.Errorf("links: %s", links)
	}
	peer := p.name + "-peer-1"
	if got := p.docker("inspect", "-f", "{{.HostConfig.NetworkMode}} {{json .HostConfig.VolumesFrom}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", peer); !strings.HasPrefix(got, "container:") || !strings.Contains(got, main+":ro") || !strings.HasSuffix(got, "on-failure:5") {
		t.Errorf("peer: %q", got)
	}
	// Ports: a random host port on 127.0.0.1, and port answers for it.
	if out := p.ok("port", "main", "8080"); !strings.HasPrefix(out, "127.0.0.1:") {
		t.Errorf("port main 8080: %q", out)
	}
	if out := p.ok("port", "--protocol", "udp", "main", "9090"); !strings.Contains(out, ":") {
		t.Errorf("port udp: %q", out)
	}
	if out := p.ok("images"); !strings.Contains(out, "busybox") {
		t.Errorf("images: %q", out)
	}
	if out := p.ok("top", "main"); !strings.Contains(out, "sleep") {
		t.Errorf("top: %q", out)
	}
	p.ok("pause", "main")
	if st := p.docker("inspect", "-f", "{{.State.Paused}}", main); st != "true" {
		t.Errorf("pause: %s", st)
	}
	p.ok("unpause", "main")
	p.ok("kill", "-s", "SIGKILL", "peer")
	p.eventually(10*time.Second, "peer killed", func() bool {
		return p.docker("inspect", "-f", "{{.State.Running}}", peer) == "false"
	})
	// peer's restart policy may bring it back after the kill: rm -s stops it.
	p.ok("rm", "-s", "-f", "peer")
	if out := p.ok("ps", "-a", "-q", "peer"); out != "" {
		t.Errorf("rm peer: %q", out)
	}
	p.ok("down", "-v", "-t", "1")
	p.wantNothingLeft("down -v")
}

// depends_on: service_healthy waits for the dependency's healthcheck, and
// up --wait for every service's.
func TestComposeHealthy(t *testing.T) {
	p := newProject(t, `
services:
  db:
    image: busybox
    init: true
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      timeout: 2s
      retries: 20
  app:
    image: busybox
    init: true
    command: ["sleep", "600"]
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
`)
	r := p.compose("up", "-d", "--wait")
	if r.Code != 0 {
		t.Fatalf("up --wait: %s", r)
	}
	if st := p.docker("inspect", "-f", "{{.State.Health.Status}}", p.name+"-db-1"); st != "healthy" {
		t.Errorf("db health: %s", st)
	}
	if st := p.docker("inspect", "-f", "{{.State.Running}}", p.name+"-app-1"); st != "true" {
		t.Errorf("app not started: %s", st)
	}
	p.ok("down", "-t", "1")
	p.wantNothingLeft("down")
}

// Attached up streams until interrupted; ctrl-c stops the containers.
func TestComposeAttachedInterrupt(t *testing.T) {
	p := newProject(t, `
services:
  ticker:
    image: busybox
    init: true
    command: ["sh", "-c", "echo tick-start; exec sleep 600"]
    stop_grace_period: 1s
`)
	cmd := exec.CommandContext(p.ctx, p.bin, "compose", "up")
	cmd.Dir, cmd.Env = p.dir, p.env
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	name := p.name + "-ticker-1"
	p.eventually(20*time.Second, "ticker running", func() bool {
		r := testutil.DockerDriver(env.daemon, env.cfgDir).Run(p.ctx, nil, "inspect", "-f", "{{.State.Running}}", name)
		return r.Out() == "true"
	})
	// The output arrives through the log stream, some time after the start
	// (a fixed second was too short on a loaded machine); up is attached
	// once it shows.
	p.eventually(20*time.Second, "the ticker's output", func() bool {
		return strings.Contains(so.String(), name+"  | tick-start")
	})
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("up did not end after SIGINT; stdout %s stderr %s", so.String(), se.String())
	}
	if cmd.ProcessState.ExitCode() != 130 {
		t.Errorf("exit %d after ctrl-c, want 130; stderr %s", cmd.ProcessState.ExitCode(), se.String())
	}
	if st := p.docker("inspect", "-f", "{{.State.Running}}", name); st != "false" {
		t.Errorf("ticker still running after ctrl-c")
	}
	if !strings.Contains(so.String(), name+"  | tick-start") {
		t.Errorf("attached output: %q", so.String())
	}
	p.ok("down")
	p.wantNothingLeft("down")
}

// pull fetches the services' images from a registry, push sends built ones.
func TestComposePullPush(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := pushFixture(t)
	ref := host + "/demo/bb:v1"
	built := host + "/demo/built-" + randHex(3) + ":v1"
	p := newProject(t, fmt.Sprintf(`
services:
  remote:
    image: %s
    command: ["echo", "from-registry"]
  local:
    image: %s
    build: ./ctx
  broken:
    image: %s/demo/missing:v1
    profiles: [broken]
`, ref, built, host))
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	t.Cleanup(func() { dr.Run(context.Background(), nil, "rmi", "-f", ref, built) })
	if err := os.Mkdir(filepath.Join(p.dir, "ctx"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.write("ctx/Dockerfile", "FROM busybox\nRUN echo pushed > /marker\n")
	p.ok("pull", "remote")
	if r := dr.Run(p.ctx, nil, "image", "inspect", ref); r.Code != 0 {
		t.Fatalf("pull did not fetch %s: %s", ref, r)
	}
	r := p.compose("build")
	if r.Code != 0 && strings.Contains(r.Stderr, "501") {
		t.Skipf("no builder: %s", r.Stderr)
	}
	if r.Code != 0 {
		t.Fatalf("build: %s", r)
	}
	p.ok("push", "local")
	dr.Run(p.ctx, nil, "rmi", "-f", built)
	p.ok("pull", "local")
	if out := p.ok("run", "--rm", "-T", "local", "cat", "/marker"); out != "pushed" {
		t.Errorf("pushed image: %q", out)
	}
	// A missing image fails the pull naming the service, unless ignored.
	r = p.compose("--profile", "broken", "pull", "broken")
	if r.Code == 0 || !strings.Contains(r.Stderr, `service "broken"`) {
		t.Errorf("pull of a missing image: %s", r)
	}
	if r = p.compose("--profile", "broken", "pull", "--ignore-pull-failures", "broken"); r.Code != 0 {
		t.Errorf("--ignore-pull-failures: %s", r)
	}
	p.ok("down")
	p.wantNothingLeft("down")
}
