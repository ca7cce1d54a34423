package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// notManagerBody is dockerd 20.10's answer, captured on this host from a
// daemon not in a swarm.
const notManagerBody = `{"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}` + "\n"

// TestSwarmRoutesNotInSwarm replays the answers dockerd 20.10 gives to
// every swarm route on a node outside a swarm: the same status and text,
// never a 404, including the version checks dockerd makes first.
func TestSwarmRoutesNotInSwarm(t *testing.T) {
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/v1.41/swarm", 503, notManagerBody},
		{"GET", "/v1.41/swarm/unlockkey", 503, notManagerBody},
		{"POST", "/v1.41/swarm/unlock", 503, notManagerBody},
		{"POST", "/v1.41/swarm/leave", 503, `{"message":"This node is not part of a swarm"}` + "\n"},
		{"POST", "/v1.41/swarm/leave?force=1", 503, `{"message":"This node is not part of a swarm"}` + "\n"},
		{"POST", "/v1.41/swarm/update", 400, `{"message":"invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax"}` + "\n"},
		{"POST", "/v1.41/swarm/update?version=1", 503, notManagerBody},
		{"GET", "/v1.41/nodes", 503, notManagerBody},
		{"GET", "/v1.41/nodes/abc", 503, notManagerBody},
		{"DELETE", "/v1.41/nodes/abc", 503, notManagerBody},
		{"POST", "/v1.41/nodes/abc/update", 400, `{"message":"invalid node version '': strconv.ParseUint: parsing \"\": invalid syntax"}` + "\n"},
		{"POST", "/v1.41/nodes/abc/update?version=1", 503, notManagerBody},
		{"GET", "/v1.41/services", 503, notManagerBody},
		{"POST", "/v1.41/services/create", 503, notManagerBody},
		{"GET", "/v1.41/services/abc", 503, notManagerBody},
		{"DELETE", "/v1.41/services/abc", 503, notManagerBody},
		{"POST", "/v1.41/services/abc/update", 400, `{"message":"invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"}` + "\n"},
		{"POST", "/v1.41/services/abc/update?version=1", 503, notManagerBody},
		{"GET", "/v1.41/services/abc/logs", 500, `{"message":"Bad parameters: you must choose at least one stream"}` + "\n"},
		{"GET", "/v1.41/services/abc/logs?stdout=1", 503, notManagerBody},
		{"GET", "/v1.41/tasks", 503, notManagerBody},
		{"GET", "/v1.41/tasks/abc", 503, notManagerBody},
		{"GET", "/v1.41/tasks/abc/logs", 500, `{"message":"Bad parameters: you must choose at least one stream"}` + "\n"},
		{"GET", "/v1.41/tasks/abc/logs?stdout=1", 503, notManagerBody},
		{"GET", "/v1.41/secrets", 503, notManagerBody},
		{"POST", "/v1.41/secrets/create", 503, notManagerBody},
		{"GET", "/v1.41/secrets/abc", 503, notManagerBody},
		{"DELETE", "/v1.41/secrets/abc", 503, notManagerBody},
		{"POST", "/v1.41/secrets/abc/update", 400, `{"message":"invalid secret version"}` + "\n"},
		{"POST", "/v1.41/secrets/abc/update?version=1", 503, notManagerBody},
		{"GET", "/v1.41/configs", 503, notManagerBody},
		{"POST", "/v1.41/configs/create", 503, notManagerBody},
		{"GET", "/v1.41/configs/abc", 503, notManagerBody},
		{"DELETE", "/v1.41/configs/abc", 503, notManagerBody},
		{"POST", "/v1.41/configs/abc/update", 400, `{"message":"invalid config version"}` + "\n"},
		{"POST", "/v1.41/configs/abc/update?version=1", 503, notManagerBody},
		{"GET", "/v1.41/services/abc/x", 404, `{"message":"page not found"}` + "\n"},
	}
	inactive := &fakeSwarm{}
	for _, backend := range []struct {
		name  string
		swarm engine.SwarmBackend
	}{{"no swarm front end", nil}, {"inactive front end", inactive}} {
		ts := startSwarmServer(t, backend.swarm)
		for _, c := range cases {
			resp, body := ts.do(t, c.method, c.path, "{}")
			if resp.StatusCode != c.status || body != c.body {
				t.Errorf("%s: %s %s = %d %q, want %d %q", backend.name, c.method, c.path, resp.StatusCode, body, c.status, c.body)
			}
		}
		resp, body := ts.do(t, "GET", "/_ping", "")
		if got := resp.Header.Get("Swarm"); got != "inactive" || body != "OK" {
			t.Errorf("%s: /_ping Swarm header %q, want inactive", backend.name, got)
		}
	}
	if len(inactive.calls) != 0 {
		t.Fatalf("backend called on an inactive node: %v", inactive.calls)
	}
}

// TestSwarmRoutesManager checks what an active manager serves through the
// front end: /_ping's header, /info's Swarm part, a list encoded as [],
// and service logs with dockerd's details prefix.
func TestSwarmRoutesManager(t *testing.T) {
	fs := &fakeSwarm{active: true}
	ts := startSwarmServer(t, fs)
	resp, _ := ts.do(t, "GET", "/_ping", "")
	if got := resp.Header.Get("Swarm"); got != "active/manager" {
		t.Fatalf("/_ping Swarm header %q, want active/manager", got)
	}
	resp, body := ts.do(t, "GET", "/v1.50/info", "")
	expect(t, resp, body, 200, "")
	var info struct{ Swarm swarm.Info }
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	if info.Swarm.NodeID != "node1" || info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || info.Swarm.Managers != 1 || info.Swarm.Nodes != 1 {
		t.Fatalf("/info Swarm = %+v", info.Swarm)
	}
	resp, body = ts.do(t, "GET", "/v1.50/secrets", "")
	expect(t, resp, body, 200, "[]\n")
	resp, body = ts.do(t, "GET", "/v1.50/services/web/logs?stdout=1&details=1&timestamps=1", "")
	expect(t, resp, body, 200, "")
	want := "2026-12-07T10:00:00.000000000Z com.docker.swarm.node.id=node1,com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=t%2F1 hello\n"
	// One stdcopy frame: stream 1, three zero bytes, a big-endian length.
	if len(body) < 8 || body[0] != 1 || body[8:] != want {
		t.Fatalf("service logs = %q, want a stdout frame of %q", body, want)
	}
	resp, body = ts.do(t, "POST", "/v1.50/swarm/init", `{"ListenAddr":"0.0.0.0:2377"}`)
	if resp.StatusCode != 503 || !strings.Contains(body, "already part of a swarm") {
		t.Fatalf("init on a manager = %d %s", resp.StatusCode, body)
	}
}

// TestSwarmDockerCLINotInSwarm runs the real docker CLI's swarm commands
// against a node outside a swarm: dockerd's message and exit code 1.
func TestSwarmDockerCLINotInSwarm(t *testing.T) {
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skip("docker CLI not installed")
	}
	ts := startSwarmServer(t, nil)
	for _, args := range [][]string{{"node", "ls"}, {"service", "ls"}, {"secret", "ls"}, {"config", "ls"}, {"stack", "ls"}, {"swarm", "leave"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, dockerCLI, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+ts.sock, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CONTEXT=", "DOCKER_API_VERSION=")
		out, err := cmd.CombinedOutput()
		cancel()
		want := "This node is not a swarm manager"
		if args[0] == "swarm" {
			want = "This node is not part of a swarm"
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "Error response from daemon: "+want) {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func startSwarmServer(t *testing.T, sb engine.SwarmBackend) *testServer {
	t.Helper()
	fake := &fakeBackend{}
	be := fake.backends()
	be.Swarm = sb
	return startServerWith(t, fake, be, Options{Version: "0.0.1-test", ShutdownTimeout: time.Second})
}

// fakeSwarm is an in-memory front end: inactive unless active is set.
type fakeSwarm struct {
	active bool
	calls  []string
}

func (f *fakeSwarm) SwarmInfo(context.Context) swarm.Info {
	if !f.active {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	return swarm.Info{NodeID: "node1", NodeAddr: "127.0.0.1", LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true, Nodes: 1, Managers: 1,
		RemoteManagers: []swarm.Peer{{NodeID: "node1", Addr: "127.0.0.1:6443"}}}
}

func (f *fakeSwarm) call(name string) error { f.calls = append(f.calls, name); return nil }

func (f *fakeSwarm) SwarmInit(context.Context, swarm.InitRequest) (string, error) {
	return "node1", f.call("init")
}
func (f *fakeSwarm) SwarmJoin(context.Context, swarm.JoinRequest) error { return f.call("join") }
func (f *fakeSwarm) SwarmLeave(context.Context, bool) error             { return f.call("leave") }
func (f *fakeSwarm) SwarmInspect(context.Context) (swarm.Swarm, error) {
	return swarm.Swarm{}, f.call("inspect")
}
func (f *fakeSwarm) SwarmUpdate(context.Context, uint64, swarm.Spec, engine.SwarmUpdateFlags) error {
	return f.call("update")
}
func (f *fakeSwarm) SwarmUnlockKey(context.Context) (string, error) { return "", f.call("unlockkey") }
func (f *fakeSwarm) NodeList(context.Context, filters.Args) ([]swarm.Node, error) {
	return nil, f.call("nodes")
}
func (f *fakeSwarm) NodeInspect(context.Context, string) (swarm.Node, error) {
	return swarm.Node{}, f.call("node")
}
func (f *fakeSwarm) NodeUpdate(context.Context, string, uint64, swarm.NodeSpec) error {
	return f.call("nodeupdate")
}
func (f *fakeSwarm) NodeRemove(context.Context, string, bool) error { return f.call("noderm") }
func (f *fakeSwarm) ServiceList(context.Context, filters.Args, bool) ([]swarm.Service, error) {
	return nil, f.call("services")
}
func (f *fakeSwarm) ServiceInspect(context.Context, string, bool) (swarm.Service, error) {
	return swarm.Service{}, f.call("service")
}
func (f *fakeSwarm) ServiceCreate(context.Context, swarm.ServiceSpec, string) (swarm.ServiceCreateResponse, error) {
	return swarm.ServiceCreateResponse{}, f.call("servicecreate")
}
func (f *fakeSwarm) ServiceUpdate(context.Context, string, uint64, swarm.ServiceSpec, engine.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	return swarm.ServiceUpdateResponse{}, f.call("serviceupdate")
}
func (f *fakeSwarm) ServiceRemove(context.Context, string) error { return f.call("servicerm") }
func (f *fakeSwarm) ServiceLogs(_ context.Context, _ string, _ engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
	ch := make(chan engine.SwarmLogMessage, 1)
	ch <- engine.SwarmLogMessage{
		LogMessage: engine.LogMessage{Stream: "stdout", Line: []byte("hello\n"), Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)},
		Attrs:      []string{"com.docker.swarm.task.id=t/1", "com.docker.swarm.node.id=node1", "com.docker.swarm.service.id=svc1"},
	}
	close(ch)
	return ch, f.call("servicelogs")
}
func (f *fakeSwarm) TaskList(context.Context, filters.Args) ([]swarm.Task, error) {
	return nil, f.call("tasks")
}
func (f *fakeSwarm) TaskInspect(context.Context, string) (swarm.Task, error) {
	return swarm.Task{}, f.call("task")
}
func (f *fakeSwarm) TaskLogs(context.Context, string, engine.LogsOptions) (<-chan engine.SwarmLogMessage, error) {
	return nil, f.call("tasklogs")
}
func (f *fakeSwarm) SecretList(context.Context, filters.Args) ([]swarm.Secret, error) {
	return nil, f.call("secrets")
}
func (f *fakeSwarm) SecretCreate(context.Context, swarm.SecretSpec) (string, error) {
	return "", f.call("secretcreate")
}
func (f *fakeSwarm) SecretInspect(context.Context, string) (swarm.Secret, error) {
	return swarm.Secret{}, f.call("secret")
}
func (f *fakeSwarm) SecretUpdate(context.Context, string, uint64, swarm.SecretSpec) error {
	return f.call("secretupdate")
}
func (f *fakeSwarm) SecretRemove(context.Context, string) error { return f.call("secretrm") }
func (f *fakeSwarm) ConfigList(context.Context, filters.Args) ([]swarm.Config, error) {
	return nil, f.call("configs")
}
func (f *fakeSwarm) ConfigCreate(context.Context, swarm.ConfigSpec) (string, error) {
	return "", f.call("configcreate")
}
func (f *fakeSwarm) ConfigInspect(context.Context, string) (swarm.Config, error) {
	return swarm.Config{}, f.call("config")
}
func (f *fakeSwarm) ConfigUpdate(context.Context, string, uint64, swarm.ConfigSpec) error {
	return f.call("configupdate")
}
func (f *fakeSwarm) ConfigRemove(context.Context, string) error { return f.call("configrm") }

func (f *fakeSwarm) SwarmNetworkCreate(context.Context, network.CreateRequest) (network.CreateResponse, error) {
	return network.CreateResponse{ID: "net1"}, f.call("netcreate")
}
func (f *fakeSwarm) SwarmNetworkList(context.Context, filters.Args) ([]network.Inspect, error) {
	return []network.Inspect{{Network: network.Network{ID: "net1", Name: "getstartedlab_webnet", Driver: "overlay", Scope: "swarm"}}}, f.call("netlist")
}
func (f *fakeSwarm) SwarmNetworkInspect(context.Context, string) (network.Inspect, error) {
	return network.Inspect{}, f.call("netinspect")
}
func (f *fakeSwarm) SwarmNetworkRemove(context.Context, string) error { return f.call("netrm") }

// TestSwarmOverlayNetworks: outside a swarm an overlay network is refused
// as dockerd refuses it (500, not a swarm manager); in a swarm the
// front end's networks are listed, inspected and removed beside berthd's.
func TestSwarmOverlayNetworks(t *testing.T) {
	f := &fakeNetworks{fakeBackend: &fakeBackend{}, nets: map[string]network.Inspect{}}
	f.nets["n1"] = network.Inspect{Network: network.Network{Name: "n1", ID: "id-n1", Driver: "bridge", Scope: "local"}}
	overlay := `{"Name":"getstartedlab_webnet","Driver":"overlay","Labels":{"com.docker.stack.namespace":"getstartedlab"}}`
	for _, active := range []bool{false, true} {
		sw := &fakeSwarm{active: active}
		be := f.backends()
		be.Networks, be.Swarm = f, sw
		s := &Server{be: be, opts: Options{Version: "0.0.1-test"}, log: slog.New(slog.DiscardHandler)}
		rt := newRouter()
		s.registerNetworks(rt)
		h := s.middleware(rt)
		code, resp := call(t, h, http.MethodPost, "/v1.50/networks/create", overlay)
		if !active {
			if code != 500 || resp != notManagerBody {
				t.Fatalf("overlay outside a swarm: %d %s", code, resp)
			}
			if code, resp = call(t, h, http.MethodGet, "/v1.50/networks", ""); code != 200 || strings.Contains(resp, "overlay") {
				t.Fatalf("list outside a swarm: %d %s", code, resp)
			}
			continue
		}
		if code != 201 || !strings.Contains(resp, `"Id":"net1"`) {
			t.Fatalf("overlay create: %d %s", code, resp)
		}
		code, resp = call(t, h, http.MethodGet, "/v1.50/networks", "")
		if code != 200 || !strings.Contains(resp, `"Name":"n1"`) || !strings.Contains(resp, `"Name":"getstartedlab_webnet"`) {
			t.Fatalf("merged list: %d %s", code, resp)
		}
		if code, _ = call(t, h, http.MethodGet, "/v1.50/networks/getstartedlab_webnet", ""); code != 200 {
			t.Fatalf("inspect of a swarm network: %d", code)
		}
		if code, _ = call(t, h, http.MethodDelete, "/v1.50/networks/getstartedlab_webnet", ""); code != 204 {
			t.Fatalf("remove of a swarm network: %d", code)
		}
		if strings.Join(sw.calls, ",") != "netcreate,netlist,netinspect,netrm" {
			t.Fatalf("swarm calls %v", sw.calls)
		}
	}
}
