package deploy

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	stackcmd "github.com/berth-project/berth/internal/cli/stack"
	"github.com/berth-project/berth/internal/compose"
	"github.com/moby/moby/api/types/swarm"
)

const testCompose = `services:
  web:
    image: friendlyhello
    command: ["httpd", "-f"]
    environment:
      NAME: World
      EMPTY:
    labels:
      tier: front
    deploy:
      replicas: 5
      labels:
        owner: me
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
        delay: 5s
      update_config:
        parallelism: 2
        order: start-first
      placement:
        constraints: [node.role == manager]
    ports:
      - "80:80"
      - target: 53
        published: 5353
        protocol: udp
        mode: host
    networks:
      - webnet
    secrets:
      - db
    configs:
      - source: motd
        target: /etc/motd
        mode: 0400
  worker:
    image: busybox
    build: .
    deploy:
      mode: global
networks:
  webnet:
secrets:
  db:
    file: ./db.txt
configs:
  motd:
    file: ./motd.txt
`

func TestServiceSpecFromCompose(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(f, []byte(testCompose), 0o644)
	os.WriteFile(filepath.Join(dir, "db.txt"), []byte("s3cret"), 0o644)
	os.WriteFile(filepath.Join(dir, "motd.txt"), []byte("hi"), 0o644)
	p, err := compose.Load(context.Background(), compose.LoadOptions{Files: []string{f}, Name: "lab", WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := unsupported(p); !reflect.DeepEqual(got, []string{"build"}) {
		t.Errorf("unsupported: %v", got)
	}
	if got := usedNetworks(p); !reflect.DeepEqual(got, map[string]bool{"webnet": true, "default": true}) {
		t.Errorf("networks: %v", got)
	}
	if n := networkName("lab", "webnet", p.Networks["webnet"]); n != "lab_webnet" {
		t.Errorf("network name %q", n)
	}
	spec, err := serviceSpec("lab", p, p.Services["web"], map[string]string{"lab_db": "S1"}, map[string]string{"lab_motd": "C1"})
	if err != nil {
		t.Fatal(err)
	}
	cs := spec.TaskTemplate.ContainerSpec
	if spec.Name != "lab_web" || spec.Labels[stackcmd.LabelNamespace] != "lab" || spec.Labels["owner"] != "me" || spec.Labels[labelImage] != "friendlyhello" {
		t.Errorf("annotations: %+v", spec.Annotations)
	}
	if cs.Image != "friendlyhello" || !reflect.DeepEqual(cs.Args, []string{"httpd", "-f"}) || cs.Labels["tier"] != "front" || cs.Labels[stackcmd.LabelNamespace] != "lab" {
		t.Errorf("container: %+v", cs)
	}
	if !reflect.DeepEqual(cs.Env, []string{"EMPTY", "NAME=World"}) {
		t.Errorf("env %v", cs.Env)
	}
	if *spec.Mode.Replicated.Replicas != 5 {
		t.Errorf("mode %+v", spec.Mode)
	}
	if l := spec.TaskTemplate.Resources.Limits; l.NanoCPUs != 100000000 || l.MemoryBytes != 50*1024*1024 {
		t.Errorf("limits %+v", l)
	}
	if rp := spec.TaskTemplate.RestartPolicy; rp.Condition != "on-failure" || *rp.Delay != 5*time.Second {
		t.Errorf("restart %+v", rp)
	}
	if u := spec.UpdateConfig; u.Parallelism != 2 || u.Order != "start-first" {
		t.Errorf("update %+v", u)
	}
	if !reflect.DeepEqual(spec.TaskTemplate.Placement.Constraints, []string{"node.role == manager"}) {
		t.Errorf("placement %+v", spec.TaskTemplate.Placement)
	}
	wantPorts := []swarm.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: "ingress"},
		{Protocol: "udp", TargetPort: 53, PublishedPort: 5353, PublishMode: "host"},
	}
	if !reflect.DeepEqual(spec.EndpointSpec.Ports, wantPorts) {
		t.Errorf("ports %+v", spec.EndpointSpec.Ports)
	}
	if n := spec.TaskTemplate.Networks; len(n) != 1 || n[0].Target != "lab_webnet" || !reflect.DeepEqual(n[0].Aliases, []string{"web"}) {
		t.Errorf("networks %+v", n)
	}
	if s := cs.Secrets; len(s) != 1 || s[0].SecretName != "lab_db" || s[0].SecretID != "S1" || s[0].File.Name != "db" || s[0].File.Mode != 0o444 {
		t.Errorf("secrets %+v %+v", s, s[0].File)
	}
	if c := cs.Configs; len(c) != 1 || c[0].ConfigName != "lab_motd" || c[0].ConfigID != "C1" || c[0].File.Name != "/etc/motd" || c[0].File.Mode != 0o400 {
		t.Errorf("configs %+v", c)
	}
	w, err := serviceSpec("lab", p, p.Services["worker"], nil, nil)
	if err != nil || w.Mode.Global == nil || w.TaskTemplate.Networks[0].Target != "lab_default" {
		t.Errorf("worker: %+v %v", w, err)
	}
}
