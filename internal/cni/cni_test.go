package cni

import (
	"testing"

	"github.com/containernetworking/cni/libcni"
)

func types(l *libcni.NetworkConfigList) []string {
	var out []string
	for _, p := range l.Plugins {
		out = append(out, p.Network.Type)
	}
	return out
}

func TestForPodDropsPortmapWithoutHostPorts(t *testing.T) {
	list, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[
		{"type":"bridge","bridge":"b0","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}},
		{"type":"portmap","capabilities":{"portMappings":true}},
		{"type":"tuning"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := types(forPod(list, &Pod{ID: "x"}))
	if len(got) != 2 || got[0] != "bridge" || got[1] != "tuning" {
		t.Fatalf("no host ports: plugins %v, want [bridge tuning]", got)
	}
	if n := len(list.Plugins); n != 3 {
		t.Fatalf("the loaded list changed: %d plugins", n)
	}
	got = types(forPod(list, &Pod{ID: "x", Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}))
	if len(got) != 3 || got[1] != "portmap" {
		t.Fatalf("host ports: plugins %v, want all three", got)
	}
	only, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"portmap","capabilities":{"portMappings":true}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := types(forPod(only, &Pod{ID: "x"})); len(got) != 1 {
		t.Fatalf("a list of portmap alone is kept (libcni refuses an empty one): %v", got)
	}
}
