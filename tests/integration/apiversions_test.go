package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// matrixVersions are the API versions the matrix pins: the oldest we
// serve, dockerd 20.10's newest, the last and the first with the
// container-wide MAC address, the current image shapes, and our newest. Against a daemon that speaks less
// (dockerd 20.10 tops out at 1.41) only the versions it serves run.
var matrixVersions = []string{"1.24", "1.41", "1.43", "1.44", "1.50"}

// TestAPIVersionMatrix runs the same requests at each version through the
// docker CLI (DOCKER_API_VERSION), the Python SDK (APIClient(version=)) and
// the moby Go client (WithAPIVersion), and checks the shapes and semantics
// each version had in dockerd (moby's API version history).
func TestAPIVersionMatrix(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	docker := testutil.DockerDriver(env.daemon, env.cfgDir)
	serverMax := strings.TrimSpace(docker.Run(ctx, nil, "version", "--format", "{{.Server.APIVersion}}").Stdout)

	// An untagged image (a commit without a name) and a user network, shared
	// by every version.
	c0 := "vm-src-" + randHex(4)
	if r := docker.Run(ctx, nil, append(createArgs("--name", c0), "busybox", "true")...); r.Code != 0 {
		t.Fatalf("create: %s", r)
	}
	defer docker.Run(context.Background(), nil, "rm", "-f", c0)
	untagged := docker.Run(ctx, nil, "commit", c0).Out()
	if !strings.HasPrefix(untagged, "sha256:") {
		t.Fatalf("commit gave %q", untagged)
	}
	defer docker.Run(context.Background(), nil, "rmi", "-f", untagged)
	nw := "vm-net-" + randHex(3)
	if r := docker.Run(ctx, nil, "network", "create", "--subnet", "10.231.91.0/24", nw); r.Code != 0 {
		t.Fatalf("network create: %s", r)
	}
	defer docker.Run(context.Background(), nil, "network", "rm", nw)
	// A running container on it: network lists before 1.28 name it.
	onNet := "vm-on-" + randHex(4)
	if r := docker.Run(ctx, nil, "run", "-d", "--name", onNet, "--network", nw, "busybox", "sleep", "300"); r.Code != 0 {
		t.Fatalf("run on %s: %s", nw, r)
	}
	defer docker.Run(context.Background(), nil, "rm", "-f", onNet)

	for _, v := range matrixVersions {
		if versionLess(serverMax, v) {
			continue
		}
		t.Run(v, func(t *testing.T) {
			m := &matrix{t: t, ctx: ctx, v: v, nw: nw, untagged: untagged}
			m.dr = docker
			m.dr.Env = append(append([]string{}, docker.Env...), "DOCKER_API_VERSION="+v)
			t.Run("cli", m.cli)
			t.Run("python", m.python)
			t.Run("go", m.goClient)
		})
	}
}

type matrix struct {
	t        *testing.T
	ctx      context.Context
	v        string
	dr       testutil.Driver
	nw       string
	untagged string
}

func (m *matrix) older(than string) bool { return versionLess(m.v, than) }

// wantKeys checks which of keys obj has: those in want must be there, the
// others must not.
func wantKeys(t *testing.T, what string, obj map[string]json.RawMessage, present map[string]bool) {
	t.Helper()
	for k, want := range present {
		if _, ok := obj[k]; ok != want {
			t.Errorf("%s: key %s present=%v, want %v", what, k, ok, want)
		}
	}
}

func (m *matrix) cli(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		r := m.dr.Run(m.ctx, nil, args...)
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		return r.Out()
	}
	// Image inspect: Container until 1.45, VirtualSize until 1.44, the
	// container-only Config fields until 1.50. ContainerConfig stays at
	// every version on berthd (docker-compose 1.29 needs it).
	var imgs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(run("image", "inspect", "busybox")), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	wantKeys(t, "image inspect", imgs[0], map[string]bool{
		"Container": m.older("1.45"), "VirtualSize": m.older("1.44"),
		"Parent": true, "DockerVersion": true,
	})
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(imgs[0]["Config"], &cfg); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "image config", cfg, map[string]bool{"Hostname": m.older("1.50"), "OnBuild": true, "Entrypoint": true})

	// Volume prune (1.25 on): before 1.42 it removes named volumes too.
	if !m.older("1.25") {
		label := "vm=" + randHex(4)
		vol := "vm-vol-" + randHex(4)
		run("volume", "create", "--label", label, vol)
		defer m.dr.Run(context.Background(), nil, "volume", "rm", "-f", vol)
		run("volume", "prune", "-f", "--filter", "label="+label)
		gone := m.dr.Run(m.ctx, nil, "volume", "inspect", vol).Code != 0
		if gone != m.older("1.42") {
			t.Errorf("volume prune at %s removed the named volume: %v", m.v, gone)
		}
	}

	// Container inspect on a user network: the short ID is an alias until 1.45.
	name := "vm-al-" + randHex(4)
	id := run("create", "--network", m.nw, "--name", name, "busybox", "sleep", "60")
	defer m.dr.Run(context.Background(), nil, "rm", "-f", name)
	run("start", name)
	aliases := run("inspect", "-f", `{{json (index .NetworkSettings.Networks "`+m.nw+`").Aliases}}`, name)
	if strings.Contains(aliases, id[:12]) != m.older("1.45") {
		t.Errorf("aliases at %s: %s (short id %s)", m.v, aliases, id[:12])
	}
	if got := run("inspect", "-f", "{{.Config.MacAddress}}", name); got != "" {
		t.Errorf("Config.MacAddress at %s without --mac-address: %q", m.v, got)
	}

	// --mac-address (sent per endpoint by the CLI, which refuses it below
	// 1.44) is still the container-wide Config.MacAddress in inspect.
	if !m.older("1.44") {
		mac := "02:42:ac:11:01:" + strings.ReplaceAll(m.v, ".", "")[1:]
		for _, nw := range []string{"bridge", m.nw} {
			macName := "vm-mac-" + randHex(4)
			run("create", "--network", nw, "--mac-address", mac, "--name", macName, "busybox", "sleep", "60")
			defer m.dr.Run(context.Background(), nil, "rm", "-f", macName)
			if got := run("inspect", "-f", "{{.Config.MacAddress}}", macName); got != mac {
				t.Errorf("Config.MacAddress at %s on %s: %q, want %q", m.v, nw, got, mac)
			}
		}
	}
}

// pythonMatrix runs docker-py's low-level client at one version and prints
// what the test checks.
const pythonMatrix = `
import json, os, docker
c = docker.APIClient(base_url='unix://' + os.environ['SOCK'], version=os.environ['V'])
out = {}
img = c.inspect_image('busybox')
out['image_keys'] = sorted(img.keys())
ims = c.images(all=True)
out['untagged'] = [i['RepoTags'] for i in ims if i['Id'] == os.environ['UNTAGGED']]
out['list_virtualsize'] = all('VirtualSize' in i for i in ims)
info = c.info()
out['bridge_nf'] = 'BridgeNfIptables' in info
out['security_options'] = info.get('SecurityOptions')
out['df_virtualsize'] = None
if os.environ['V'] != '1.24':  # docker-py: df needs 1.25
    df = c.df()
    out['df_virtualsize'] = all('VirtualSize' in i for i in (df.get('Images') or []))
mac = '02:42:ac:11:00:%02x' % int(os.environ['MACBYTE'])
ctr = c.create_container('busybox', 'sleep 60', mac_address=mac,
    host_config=c.create_host_config(network_mode=os.environ['NET']))
try:
    out['warnings'] = ctr.get('Warnings') or []
    c.start(ctr['Id'])
    ins = c.inspect_container(ctr['Id'])
    out['mac_want'] = mac
    out['mac_got'] = ins['NetworkSettings']['Networks'][os.environ['NET']]['MacAddress']
    out['config_mac'] = ins['Config'].get('MacAddress')
finally:
    c.remove_container(ctr['Id'], force=True)
plain = c.create_container('busybox', 'sleep 60', host_config=c.create_host_config(network_mode=os.environ['NET']))
try:
    out['config_mac_plain'] = c.inspect_container(plain['Id'])['Config'].get('MacAddress', 'absent')
finally:
    c.remove_container(plain['Id'], force=True)
print(json.dumps(out))
`

func (m *matrix) python(t *testing.T) {
	if _, err := exec.LookPath(python3()); err != nil {
		t.Skip("python3 missing")
	}
	cmd := exec.CommandContext(m.ctx, python3(), "-c", pythonMatrix)
	cmd.Env = append(os.Environ(), "SOCK="+env.daemon.Sock, "V="+m.v, "NET="+m.nw,
		"UNTAGGED="+m.untagged, "MACBYTE="+strings.ReplaceAll(m.v, ".", "")[1:])
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\n%s%s", err, so.String(), se.String())
	}
	var out struct {
		ImageKeys       []string   `json:"image_keys"`
		Untagged        [][]string `json:"untagged"`
		ListVirtualSize bool       `json:"list_virtualsize"`
		BridgeNf        bool       `json:"bridge_nf"`
		SecurityOptions []string   `json:"security_options"`
		DFVirtualSize   *bool      `json:"df_virtualsize"`
		Warnings        []string   `json:"warnings"`
		MacWant         string     `json:"mac_want"`
		MacGot          string     `json:"mac_got"`
		ConfigMac       string     `json:"config_mac"`
		ConfigMacPlain  string     `json:"config_mac_plain"`
	}
	if err := json.Unmarshal(so.Bytes(), &out); err != nil {
		t.Fatalf("python output %q: %v", so.String(), err)
	}
	has := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	if has(out.ImageKeys, "Container") != m.older("1.45") || has(out.ImageKeys, "VirtualSize") != m.older("1.44") {
		t.Errorf("image inspect keys at %s: %v", m.v, out.ImageKeys)
	}
	if len(out.Untagged) != 1 {
		t.Fatalf("untagged image not listed: %+v", out)
	}
	if none := len(out.Untagged[0]) == 1 && out.Untagged[0][0] == "<none>:<none>"; none != m.older("1.43") {
		t.Errorf("untagged RepoTags at %s: %q", m.v, out.Untagged[0])
	}
	if out.ListVirtualSize != m.older("1.44") || (out.DFVirtualSize != nil && *out.DFVirtualSize != m.older("1.44")) {
		t.Errorf("VirtualSize at %s: list %v, df %v", m.v, out.ListVirtualSize, out.DFVirtualSize)
	}
	// dockerd 20.10 predates the 1.50 omission, so only assert it there.
	if env.daemon.Target == testutil.TargetBerthd && out.BridgeNf != m.older("1.50") {
		t.Errorf("BridgeNfIptables at %s: %v", m.v, out.BridgeNf)
	}
	for _, so := range out.SecurityOptions {
		if strings.HasPrefix(so, "name=") == m.older("1.25") {
			t.Errorf("SecurityOptions at %s: %q", m.v, out.SecurityOptions)
		}
	}
	// The container-wide MAC address lands on the endpoint at every
	// version; from 1.44 it is deprecated with a warning.
	if out.MacGot != out.MacWant {
		t.Errorf("MAC at %s: got %q, want %q", m.v, out.MacGot, out.MacWant)
	}
	// The deprecated Config.MacAddress stays in inspect at every version:
	// dockerd 28 reports the requested address there (absent without one).
	if out.ConfigMac != out.MacWant || out.ConfigMacPlain != "absent" {
		t.Errorf("Config.MacAddress at %s: %q with a requested MAC, %q without", m.v, out.ConfigMac, out.ConfigMacPlain)
	}
	warned := false
	for _, w := range out.Warnings {
		warned = warned || strings.Contains(w, "container-wide MacAddress field is now deprecated")
	}
	if warned != !m.older("1.44") {
		t.Errorf("MAC warning at %s: %q", m.v, out.Warnings)
	}
}

func (m *matrix) goClient(t *testing.T) {
	cli, err := client.New(client.WithHost("unix://"+env.daemon.Sock), client.WithAPIVersion(m.v))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var raw bytes.Buffer
	if _, err := cli.ImageInspect(m.ctx, "busybox", client.ImageInspectWithRawResponse(&raw)); err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw.Bytes(), &obj); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "image inspect (go)", obj, map[string]bool{"ContainerConfig": true, "Container": m.older("1.45"), "VirtualSize": m.older("1.44")})

	// GET /networks listed each network's containers before 1.28; since,
	// "Containers" is there and empty (dockerd 28; moby's Go types of API
	// 1.52 dropped the field, so the wire is read as is).
	q := url.Values{"filters": {`{"name":{"` + m.nw + `":true}}`}}
	resp, err := daemonHTTP().Get("http://berthd/v" + m.v + "/networks?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var nets []map[string]json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&nets)
	resp.Body.Close()
	if err != nil || len(nets) != 1 {
		t.Fatalf("network list at %s: %v %d entries", m.v, err, len(nets))
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(nets[0]["Containers"], &members); err != nil || members == nil {
		t.Errorf("network list at %s: Containers %s (%v)", m.v, nets[0]["Containers"], err)
	}
	if want := map[bool]int{true: 1, false: 0}[m.older("1.28")]; len(members) != want {
		t.Errorf("network list at %s: %d containers listed, want %d", m.v, len(members), want)
	}

	// AutoRemove arrived in 1.25: a 1.24 client removed containers itself.
	hc := &container.HostConfig{AutoRemove: true}
	if env.daemon.Target == testutil.TargetDockerd {
		hc.NetworkMode = "none"
	}
	res, err := cli.ContainerCreate(m.ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: hc,
		Name: "vm-ar-" + randHex(4),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	ins, err := cli.ContainerInspect(m.ctx, res.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ins.Container.HostConfig.AutoRemove != !m.older("1.25") {
		t.Errorf("AutoRemove at %s: %v", m.v, ins.Container.HostConfig.AutoRemove)
	}
}
