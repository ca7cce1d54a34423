package integration

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// dockerComposeV1 is Debian's docker-compose 1.29.2 (python, docker-py),
// which reads engine state the old way: image inspect ContainerConfig,
// container labels, attach/exec through the API.
const dockerComposeV1 = "/usr/bin/docker-compose"

// v1 runs docker-compose in the project directory against the test daemon.
func (p *project) v1(args ...string) testutil.Result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerComposeV1, args...)
	cmd.Dir, cmd.WaitDelay = p.dir, 5*time.Second
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+env.daemon.Sock, "COMPOSE_PROJECT_NAME="+p.name,
		"COMPOSE_INTERACTIVE_NO_CLI=1", "DOCKER_CONFIG="+env.cfgDir)
	return testutil.RunCommand(ctx, cmd, args)
}

func (p *project) v1ok(args ...string) string {
	p.t.Helper()
	r := p.v1(args...)
	if r.Code != 0 {
		p.t.Fatalf("docker-compose: want exit 0: %s", r)
	}
	return r.Out()
}

// anonVolumes returns the names of the volumes mounted by the project's
// containers, so the test can remove the anonymous ones docker-compose v1
// itself leaves behind on scale-down (on dockerd too).
func (p *project) anonVolumes() []string {
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	ids := lines(dr.Run(p.ctx, nil, "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name).Stdout)
	if len(ids) == 0 {
		return nil
	}
	out := dr.Run(p.ctx, nil, append([]string{"inspect", "-f", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`}, ids...)...).Stdout
	var names []string
	for _, n := range strings.Fields(out) {
		if len(n) == 64 {
			names = append(names, n)
		}
	}
	return names
}

func TestDockerComposeV1(t *testing.T) {
	if _, err := os.Stat(dockerComposeV1); err != nil {
		t.Skip("docker-compose (Debian's 1.29.2) is not installed")
	}
	p := newProject(t, `
version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello-v1 > /www/index.html; trap exit TERM; httpd -f -p 80 -h /www & wait"]
    volumes:
      - www:/www
    environment:
      - MODE=v1
  client:
    image: busybox
    command: ["sh", "-c", "echo client-started; trap exit TERM; sleep 600 & wait"]
    depends_on: [web]
    volumes:
      - /scratch
volumes:
  www:
`)
	var anon []string
	t.Cleanup(func() {
		dr := testutil.DockerDriver(env.daemon, env.cfgDir)
		for _, v := range anon {
			dr.Run(context.Background(), nil, "volume", "rm", "-f", v)
		}
	})
	p.v1ok("up", "-d")
	ps := p.v1ok("ps")
	for _, n := range []string{p.name + "_web_1", p.name + "_client_1"} {
		if !strings.Contains(ps, n) || !strings.Contains(ps, "Up") {
			t.Errorf("ps: want %s Up in:\n%s", n, ps)
		}
	}
	if out := p.v1ok("exec", "-T", "client", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80"); !strings.Contains(out, "hello-v1") {
		t.Errorf("exec client → web by name: %q", out)
	}
	if out := p.v1ok("exec", "-T", "web", "sh", "-c", "echo $MODE"); out != "v1" {
		t.Errorf("exec env: %q", out)
	}
	// docker-compose attaches after start (dockerpty's lazy map): a command
	// that exits at once can race the attach on any engine, so it waits.
	if out := p.v1ok("run", "--rm", "-T", "client", "sh", "-c", "sleep 1; echo one-off"); out != "one-off" {
		t.Errorf("run --rm: %q", out)
	}
	if logs := p.v1ok("logs", "--no-color", "client"); !strings.Contains(logs, "client-started") {
		t.Errorf("logs: %q", logs)
	}
	p.v1ok("up", "-d", "--scale", "client=2")
	if ps := p.v1ok("ps"); !strings.Contains(ps, p.name+"_client_2") {
		t.Errorf("scale: %s", ps)
	}
	anon = append(anon, p.anonVolumes()...)
	before := p.docker("inspect", "-f", "{{.Id}}", p.name+"_web_1")
	p.v1ok("up", "-d", "--force-recreate", "--scale", "client=1")
	if after := p.docker("inspect", "-f", "{{.Id}}", p.name+"_web_1"); after == before {
		t.Errorf("up --force-recreate kept web")
	}
	if out := p.v1ok("exec", "-T", "client", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80"); !strings.Contains(out, "hello-v1") {
		t.Errorf("after recreate: %q", out)
	}
	anon = append(anon, p.anonVolumes()...)
	p.v1ok("down", "--volumes", "-t", "1")
	p.wantNothingLeft("docker-compose down --volumes")
}
