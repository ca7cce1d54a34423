package service

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

func TestServicePortsGroupedAsDocker(t *testing.T) {
	ing := swarm.PortConfigPublishModeIngress
	p := func(pub, tgt uint32, proto string) swarm.PortConfig {
		return swarm.PortConfig{PublishedPort: pub, TargetPort: tgt, Protocol: "tcp", PublishMode: ing}
	}
	udp := p(53, 53, "")
	udp.Protocol = "udp"
	host := p(8080, 80, "")
	host.PublishMode = swarm.PortConfigPublishModeHost
	for _, c := range []struct {
		ports []swarm.PortConfig
		want  string
	}{
		{nil, ""},
		{[]swarm.PortConfig{p(80, 80, "")}, "*:80->80/tcp"},
		{[]swarm.PortConfig{p(81, 81, ""), p(80, 80, "")}, "*:80-81->80-81/tcp"},
		{[]swarm.PortConfig{p(80, 80, ""), p(81, 80, "")}, "*:80-81->80/tcp"},
		{[]swarm.PortConfig{p(80, 80, ""), p(81, 81, ""), p(82, 80, "")}, "*:80-81->80-81/tcp, *:82->80/tcp"},
		{[]swarm.PortConfig{p(80, 80, ""), udp, host}, "*:80->80/tcp, *:53->53/udp"},
	} {
		s := swarm.Service{Endpoint: swarm.Endpoint{Ports: c.ports}}
		if got := (serviceRow{s}).Ports(); got != c.want {
			t.Errorf("%v: %q, want %q", c.ports, got, c.want)
		}
	}
}

func TestServiceListTable(t *testing.T) {
	five, two := uint64(5), uint64(2)
	svcs := []swarm.Service{
		{ID: "bbbbbbbbbbbbbbbbbbbbbbbbb", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web10"},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &five}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "friendlyhello:latest@sha256:" + strings.Repeat("a", 64)}}},
			ServiceStatus: &swarm.ServiceStatus{RunningTasks: 5, DesiredTasks: 5}},
		{ID: "aaaaaaaaaaaaaaaaaaaaaaaaa", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web2"},
			Mode:         swarm.ServiceMode{Global: &swarm.GlobalService{}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}, Placement: &swarm.Placement{MaxReplicas: two}}},
			ServiceStatus: &swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 1}},
	}
	var b bytes.Buffer
	if err := WriteList(&b, svcs, "", false); err != nil {
		t.Fatal(err)
	}
	want := "ID             NAME      MODE         REPLICAS   IMAGE                  PORTS\n" +
		"aaaaaaaaaaaa   web2      global       1/1        busybox                \n" +
		"bbbbbbbbbbbb   web10     replicated   5/5        friendlyhello:latest   \n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	WriteList(&b, svcs, "", true)
	if b.String() != "aaaaaaaaaaaa\nbbbbbbbbbbbb\n" {
		t.Errorf("quiet: %q", b.String())
	}
}

func TestTaskRows(t *testing.T) {
	now := time.Now()
	r := taskRow{t: swarm.Task{ID: "0123456789abcdef", DesiredState: "shutdown",
		Status: swarm.TaskStatus{State: "failed", Timestamp: now.Add(-3 * time.Minute), Err: "task: non-zero exit (1): something long went wrong"},
		Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest@sha256:" + strings.Repeat("b", 64)}}},
		trunc: true, now: now}
	if r.ID() != "0123456789ab" || r.DesiredState() != "Shutdown" || r.CurrentState() != "Failed 3 minutes ago" ||
		r.Error() != `"task: non-zero exit (1): some…"` || r.Image() != "busybox:latest" {
		t.Errorf("row: %q %q %q %q %q", r.ID(), r.DesiredState(), r.CurrentState(), r.Error(), r.Image())
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{
		"80:80":                                "[{tcp 80 80 ingress}]",
		"8080:80/udp":                          "[{udp 80 8080 ingress}]",
		"80":                                   "[{tcp 80 0 ingress}]",
		"8000-8001:80-81":                      "[{tcp 80 8000 ingress} {tcp 81 8001 ingress}]",
		"published=8080,target=80,mode=host":   "[{tcp 80 8080 host}]",
		"target=53,protocol=udp,published=530": "[{udp 53 530 ingress}]",
	} {
		ps, err := parsePort(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		var parts []string
		for _, p := range ps {
			parts = append(parts, "{"+string(p.Protocol)+" "+itoa(p.TargetPort)+" "+itoa(p.PublishedPort)+" "+string(p.PublishMode)+"}")
		}
		if got := "[" + strings.Join(parts, " ") + "]"; got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"x:80", "80:y", "8000-8002:80-81", "published=1", "foo=1,target=2"} {
		if _, err := parsePort(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
