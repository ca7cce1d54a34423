package cri

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// wantErr checks a call's gRPC code and that its message names the field.
func wantErr(t *testing.T, what string, err error, wantCode, field string) {
	t.Helper()
	if code(err) != wantCode {
		t.Errorf("%s: got %v, want code %s", what, err, wantCode)
		return
	}
	if field != "" && !strings.Contains(err.Error(), field) {
		t.Errorf("%s: message %q does not name %q", what, err, field)
	}
}

// assertNoPods checks that no pod other than keep exists and that nothing
// of a refused pod is left: pinned namespaces, records, veths.
func assertNoPods(t *testing.T, keep ...string) {
	t.Helper()
	ctx := context.Background()
	pods, err := env.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for _, p := range pods.Items {
		if !kept[p.Id] {
			t.Errorf("pod %s (%s) exists after a refused call", p.Id, p.Metadata.Name)
		}
	}
	for _, dir := range []string{filepath.Join(env.d.Exec, "cri", "ns"), filepath.Join(env.d.Root, "cri", "sandboxes")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !kept[e.Name()] {
				t.Errorf("%s/%s left behind", dir, e.Name())
			}
		}
	}
	if n := bridgePorts(t); n != len(keep) {
		t.Errorf("%d veths on the bridge, want %d", n, len(keep))
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if n := strings.Count(string(mounts), filepath.Join(env.d.Exec, "cri", "ns")+"/"); n != 3*len(keep) {
		t.Errorf("%d pinned namespace mounts, want %d:\n%s", n, 3*len(keep), grepLines(string(mounts), "cri/ns"))
	}
}

func TestBadPodConfigs(t *testing.T) {
	ctx := ctxT(t)
	mk := func(mut func(*runtimeapi.PodSandboxConfig)) *runtimeapi.PodSandboxConfig {
		c := testPod(t, "bad")
		mut(c)
		return c
	}
	hostNet := &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}
	cases := []struct {
		name, code, field string
		cfg               *runtimeapi.PodSandboxConfig
		handler           string
	}{
		{"no config", "InvalidArgument", "config", nil, ""},
		{"no name", "InvalidArgument", "config.metadata.name", mk(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "" }), ""},
		{"no uid", "InvalidArgument", "config.metadata.uid", mk(func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Uid = "" }), ""},
		{"net sysctl on host network", "InvalidArgument", "config.linux.sysctls", mk(func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext = hostNet
			c.Linux.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
		}), ""},
		{"bad dns server", "InvalidArgument", "config.dns_config.servers", mk(func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers = []string{"not-an-ip"} }), ""},
		{"bad port", "InvalidArgument", "config.port_mappings", mk(func(c *runtimeapi.PodSandboxConfig) {
			c.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 70000}}
		}), ""},
		{"unknown runtime handler", "NotFound", "runtime_handler", testPod(t, "bad"), "nosuch"},
	}
	for _, tc := range cases {
		_, err := env.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: tc.cfg, RuntimeHandler: tc.handler})
		wantErr(t, tc.name, err, tc.code, tc.field)
	}
	assertNoPods(t)

	// The same metadata twice: the second is refused and the first untouched.
	cfg := testPod(t, "dup")
	id := runPod(t, ctx, cfg)
	_, err := env.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	wantErr(t, "duplicate pod", err, "AlreadyExists", "metadata")
	assertNoPods(t, id)
	env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	env.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	assertNoPods(t)

	// Unknown ids: stop and remove are idempotent, status is NotFound.
	if _, err := env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: "nosuch"}); err != nil {
		t.Errorf("StopPodSandbox(nosuch): %v", err)
	}
	if _, err := env.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: "nosuch"}); err != nil {
		t.Errorf("RemovePodSandbox(nosuch): %v", err)
	}
	_, err = env.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "nosuch"})
	wantErr(t, "status of unknown pod", err, "NotFound", "nosuch")
}

// TestPodNetworkFailureLeavesNothing makes the second plugin of a chain
// fail after the bridge plugin made a veth and took an IP: the pod is
// refused and the veth, the IP and the pinned namespaces are gone.
func TestPodNetworkFailureLeavesNothing(t *testing.T) {
	ctx := ctxT(t)
	bad := filepath.Join(env.cniDir, "00-failing.conflist")
	conf, err := os.ReadFile(filepath.Join(env.cniDir, "10-berth-test.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	failing := strings.Replace(string(conf), `{"type": "portmap", "capabilities": {"portMappings": true}}`, `{"type": "berth-no-such-plugin"}`, 1)
	if err := os.WriteFile(bad, []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bad)
	_, err = env.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: testPod(t, "netfail")})
	if err == nil || !strings.Contains(err.Error(), "pod network") {
		t.Fatalf("RunPodSandbox with a failing plugin: %v", err)
	}
	assertNoPods(t)
	ents, _ := os.ReadDir(filepath.Join(env.ipamDir, env.bridge))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), strings.Split(env.subnet, ".0/")[0]) {
			t.Errorf("IP %s still allocated", e.Name())
		}
	}
}

func TestBadContainerConfigs(t *testing.T) {
	ctx := ctxT(t)
	pcfg := testPod(t, "badctr")
	id := runPod(t, ctx, pcfg)
	base := func() *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  []string{"sleep", "600"},
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
		}
	}
	mut := func(f func(*runtimeapi.ContainerConfig)) *runtimeapi.ContainerConfig { c := base(); f(c); return c }
	cases := []struct {
		name, pod, code, field string
		cfg                    *runtimeapi.ContainerConfig
	}{
		{"unknown pod", "nosuch", "NotFound", "pod sandbox", base()},
		{"no pod id", "", "InvalidArgument", "pod_sandbox_id", base()},
		{"no config", id, "InvalidArgument", "config", nil},
		{"no name", id, "InvalidArgument", "config.metadata.name", mut(func(c *runtimeapi.ContainerConfig) { c.Metadata.Name = "" })},
		{"no image", id, "InvalidArgument", "config.image.image", mut(func(c *runtimeapi.ContainerConfig) { c.Image.Image = "" })},
		{"unknown image", id, "NotFound", "config.image.image", mut(func(c *runtimeapi.ContainerConfig) { c.Image.Image = "nosuch:1" })},
		{"group without user", id, "InvalidArgument", "run_as_group", mut(func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 10}
		})},
		{"relative mount", id, "InvalidArgument", "config.mounts[0]", mut(func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "rel", HostPath: "/tmp"}}
		})},
		{"missing seccomp profile", id, "InvalidArgument", "localhost_ref", mut(func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/nonexistent/profile.json"}
		})},
		{"reserved label", id, "InvalidArgument", "config.labels", mut(func(c *runtimeapi.ContainerConfig) {
			c.Labels = map[string]string{"io.berth.cri.sandbox-id": "x"}
		})},
		{"devices", id, "Unimplemented", "config.devices", mut(func(c *runtimeapi.ContainerConfig) {
			c.Devices = []*runtimeapi.Device{{ContainerPath: "/dev/x", HostPath: "/dev/null"}}
		})},
	}
	for _, tc := range cases {
		_, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: tc.pod, Config: tc.cfg, SandboxConfig: pcfg})
		wantErr(t, tc.name, err, tc.code, tc.field)
	}
	dr := testutil.DockerDriver(env.d, env.cfgDir)
	if r := dr.Run(ctx, nil, "ps", "-aq", "--filter", "label=io.berth.cri.sandbox-id"); r.Out() != "" {
		t.Errorf("containers left after refused creates: %s", r.Out())
	}

	// Duplicate name, double start, exec in a container that does not run.
	cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: base(), SandboxConfig: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: base(), SandboxConfig: pcfg})
	wantErr(t, "duplicate container", err, "AlreadyExists", "config.metadata")
	_, err = env.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cr.ContainerId, Cmd: []string{"true"}})
	wantErr(t, "exec in created container", err, "FailedPrecondition", "not running")
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	_, err = env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId})
	wantErr(t, "second start", err, "FailedPrecondition", "container_id")
	_, err = env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nosuch"})
	wantErr(t, "status of unknown container", err, "NotFound", "nosuch")
	if _, err := env.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "nosuch"}); err != nil {
		t.Errorf("StopContainer(nosuch): %v", err)
	}
	if _, err := env.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: "nosuch"}); err != nil {
		t.Errorf("RemoveContainer(nosuch): %v", err)
	}
	// A Docker container is not the kubelet's: the CRI does not see it.
	if r := dr.Run(ctx, nil, "create", "--name", "plain-docker", "busybox", "true"); r.Code != 0 {
		t.Fatal(r)
	}
	defer dr.Run(ctx, nil, "rm", "-f", "plain-docker")
	_, err = env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "plain-docker"})
	wantErr(t, "status of a docker container", err, "NotFound", "plain-docker")

	// A stopped pod takes no new containers.
	if _, err := env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	cfg2 := base()
	cfg2.Metadata.Name = "late"
	_, err = env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: cfg2, SandboxConfig: pcfg})
	wantErr(t, "create in stopped pod", err, "FailedPrecondition", "not ready")
	if _, err := env.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	assertPodGone(t, id, "")
}
