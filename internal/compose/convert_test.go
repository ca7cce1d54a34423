package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// load writes yaml into a temp project directory and loads it.
func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), LoadOptions{WorkDir: dir, Files: []string{filepath.Join(dir, "compose.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func none(string) []string { return nil }

func TestBuildSpec(t *testing.T) {
	p := load(t, `
services:
  web:
    image: busybox
    command: ["httpd", "-f"]
    environment: [A=1, B]
    ports: ["127.0.0.1:8080-8081:80-81", "9000/udp"]
    expose: ["7000-7001"]
    volumes: [data:/data, ./rel:/rel:ro, /anon]
    restart: on-failure:3
    deploy:
      resources:
        limits: {cpus: "1.5", memory: 32M}
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
    stop_grace_period: 5s
volumes:
  data:
`)
	if p.Name != "demo" {
		t.Errorf("project name %q, want the directory's", p.Name)
	}
	svc := p.Services["web"]
	spec, err := buildSpec(p, svc, 2, false, "h", none)
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := spec.req.Config, spec.req.HostConfig
	if spec.name != "demo-web-2" {
		t.Errorf("name %q", spec.name)
	}
	if strings.Join(cfg.Env, ",") != "A=1" {
		t.Errorf("env %v (an unset variable is left out)", cfg.Env)
	}
	if cfg.Labels[LabelProject] != "demo" || cfg.Labels[LabelNumber] != "2" || cfg.Labels[LabelOneoff] != "False" || cfg.Labels[LabelConfigHash] != "h" {
		t.Errorf("labels %v", cfg.Labels)
	}
	if len(cfg.ExposedPorts) != 5 {
		t.Errorf("exposed %v", cfg.ExposedPorts)
	}
	if len(hc.PortBindings) != 3 {
		t.Errorf("bindings %v", hc.PortBindings)
	}
	if hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("restart %+v", hc.RestartPolicy)
	}
	if hc.NanoCPUs != 1_500_000_000 || hc.Memory != 32<<20 {
		t.Errorf("resources cpus=%d mem=%d", hc.NanoCPUs, hc.Memory)
	}
	if *cfg.StopTimeout != 5 || cfg.Healthcheck == nil || cfg.Healthcheck.Interval.Seconds() != 2 {
		t.Errorf("stop timeout / healthcheck: %v %+v", *cfg.StopTimeout, cfg.Healthcheck)
	}
	binds := strings.Join(hc.Binds, " ")
	if !strings.Contains(binds, "demo_data:/data") || !strings.Contains(binds, filepath.Join(p.WorkingDir, "rel")+":/rel:ro") {
		t.Errorf("binds %v", hc.Binds)
	}
	if _, ok := cfg.Volumes["/anon"]; !ok || len(cfg.Volumes) != 1 {
		t.Errorf("anonymous volumes %v", cfg.Volumes)
	}
	if string(hc.NetworkMode) != "demo_default" || spec.req.NetworkingConfig.EndpointsConfig["demo_default"].Aliases[0] != "web" {
		t.Errorf("network %s %+v", hc.NetworkMode, spec.req.NetworkingConfig)
	}
}

func TestServiceHash(t *testing.T) {
	p := load(t, "services:\n  a:\n    image: busybox\n    environment: {X: \"1\"}\n")
	svc := p.Services["a"]
	h1, _ := ServiceHash(svc)
	scaled := svc
	scaled.SetScale(3)
	if h2, _ := ServiceHash(scaled); h2 != h1 {
		t.Errorf("scale changed the hash")
	}
	changed := load(t, "services:\n  a:\n    image: busybox\n    environment: {X: \"2\"}\n").Services["a"]
	if h3, _ := ServiceHash(changed); h3 == h1 {
		t.Errorf("environment change kept the hash")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, []byte("services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n"), 0o644)
	_, err := Load(context.Background(), LoadOptions{WorkDir: dir, Files: []string{file}})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle detected") {
		t.Errorf("cycle: %v", err)
	}
	os.WriteFile(file, []byte("services:\n  a:\n    image: busybox\n    ports: 80\n"), 0o644)
	_, err = Load(context.Background(), LoadOptions{WorkDir: dir, Files: []string{file}})
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "services.a.ports") {
		t.Errorf("invalid key: %v", err)
	}
}

func TestRestartPolicyFromDeploy(t *testing.T) {
	p := load(t, "services:\n  a:\n    image: busybox\n    deploy:\n      restart_policy: {condition: any}\n")
	r, err := restartPolicy(p.Services["a"])
	if err != nil || r.Name != "always" {
		t.Errorf("deploy any: %+v %v", r, err)
	}
}

func TestSplitRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":         "busybox latest",
		"reg:5000/a/b:v1": "reg:5000/a/b v1",
		"reg:5000/a/b":    "reg:5000/a/b latest",
		"a@sha256:abc":    "a sha256:abc",
	} {
		n, tag := splitRef(in)
		if n+" "+tag != want {
			t.Errorf("splitRef(%q) = %q %q", in, n, tag)
		}
	}
}

func TestLoadMergeEnvProfiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Merged.Dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("compose.yaml", "version: \"3.8\"\nservices:\n  web:\n    image: busybox:${TAG}\n    environment: [A=base]\n  debug:\n    image: busybox\n    profiles: [debug]\n")
	over := write("override.yaml", "services:\n  web:\n    environment: [A=override]\n")
	write(".env", "TAG=1.36\n")
	p, err := Load(context.Background(), LoadOptions{WorkDir: dir, Files: []string{base, over}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mergeddir" {
		t.Errorf("name %q: the directory name, normalised", p.Name)
	}
	web := p.Services["web"]
	if web.Image != "busybox:1.36" || *web.Environment["A"] != "override" {
		t.Errorf("web %q %v", web.Image, *web.Environment["A"])
	}
	if _, ok := p.Services["debug"]; ok {
		t.Errorf("profile service enabled without --profile")
	}
	p, err = Load(context.Background(), LoadOptions{WorkDir: dir, Files: []string{base}, Profiles: []string{"debug"}, Name: "given"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["debug"]; !ok || p.Name != "given" {
		t.Errorf("--profile debug / -p: %v %q", p.ServiceNames(), p.Name)
	}
}
