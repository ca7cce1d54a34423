package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testPod returns a pod config with its own log dir and cgroup parent;
// cleanup removes both.
func testPod(t *testing.T, name string) *runtimeapi.PodSandboxConfig {
	uid := randHex(8)
	logDir := t.TempDir()
	parent := "/berthcri" + randHex(4) + "/pod" + uid
	t.Cleanup(func() { removeCgroup(strings.Split(strings.Trim(parent, "/"), "/")[0]) })
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: uid},
		Hostname:     name,
		LogDirectory: logDir,
		Labels:       map[string]string{"app": name},
		Annotations:  map[string]string{"note": "cri-test"},
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: parent},
	}
}

// removeCgroup deletes top (a test's cgroup parent) in every hierarchy,
// deepest directories first.
func removeCgroup(top string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + top)
	for _, r := range roots {
		var dirs []string
		filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

func runPod(t *testing.T, ctx context.Context, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	r, err := env.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	t.Cleanup(func() {
		c := context.Background()
		env.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: r.PodSandboxId})
		env.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId})
	})
	return r.PodSandboxId
}

// bridgePorts counts the veths attached to the test network's bridge.
func bridgePorts(t *testing.T) int {
	br, err := netlink.LinkByName(env.bridge)
	if err != nil {
		return 0
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			n++
		}
	}
	return n
}

// assertPodGone checks that nothing of pod id is left on the host.
func assertPodGone(t *testing.T, id, ip string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(env.d.Exec, "cri", "ns", id)); !os.IsNotExist(err) {
		t.Errorf("pinned namespaces of %s still present (%v)", id, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), id) {
		t.Errorf("a mount of pod %s is left:\n%s", id, grepLines(string(mounts), id))
	}
	if _, err := os.Stat(filepath.Join(env.d.Root, "cri", "sandboxes", id)); !os.IsNotExist(err) {
		t.Errorf("sandbox record of %s still present (%v)", id, err)
	}
	if ip != "" {
		if _, err := os.Stat(filepath.Join(env.ipamDir, env.bridge, ip)); !os.IsNotExist(err) {
			t.Errorf("IP %s of pod %s still allocated (%v)", ip, id, err)
		}
	}
	if n := bridgePorts(t); n != 0 {
		t.Errorf("%d veths still on bridge %s", n, env.bridge)
	}
	r := testutil.DockerDriver(env.d, env.cfgDir).Run(context.Background(), nil, "ps", "-aq", "--filter", "label=io.berth.cri.sandbox-id="+id)
	if r.Out() != "" {
		t.Errorf("containers of pod %s left: %s", id, r.Out())
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRuntimeInfo(t *testing.T) {
	ctx := ctxT(t)
	v, err := env.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "berth" || v.RuntimeApiVersion != "v1" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	st, err := env.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if !c.Status {
			t.Errorf("condition %s false: %s %s", c.Type, c.Reason, c.Message)
		}
	}
	if len(st.Status.Conditions) != 2 {
		t.Errorf("conditions = %v", st.Status.Conditions)
	}
	rc, err := env.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Fatalf("RuntimeConfig = %v, %v", rc, err)
	}
	// Not supported: an honest Unimplemented, not a success.
	_, err = env.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: "x"})
	if code(err) != "Unimplemented" {
		t.Errorf("CheckpointContainer: %v, want Unimplemented", err)
	}
}

func TestImages(t *testing.T) {
	ctx := ctxT(t)
	list, err := env.img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, im := range list.Images {
		for _, tag := range im.RepoTags {
			if tag == "busybox:latest" || tag == "docker.io/library/busybox:latest" {
				id = im.Id
			}
		}
	}
	if id == "" {
		t.Fatalf("busybox imported through the Engine API is not listed: %v", list.Images)
	}
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", id} {
		st, err := env.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil || st.Image == nil || st.Image.Id != id {
			t.Errorf("ImageStatus(%s) = %v, %v", ref, st, err)
		}
	}
	st, err := env.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "nosuch:1"}})
	if err != nil || st.Image != nil {
		t.Errorf("ImageStatus(nosuch) = %v, %v; want empty answer", st, err)
	}
	if _, err := env.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "nosuch:1"}}); err != nil {
		t.Errorf("RemoveImage(nosuch): %v", err)
	}
	fs, err := env.img.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 || fs.ImageFilesystems[0].UsedBytes.Value == 0 {
		t.Errorf("ImageFsInfo = %v, %v", fs, err)
	}
	// A pull from a registry that does not answer fails with the registry's error.
	_, err = env.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "127.0.0.1:1/x:1"}})
	if err == nil {
		t.Error("PullImage from a closed port succeeded")
	}
}

func TestPodLifecycle(t *testing.T) {
	ctx := ctxT(t)
	cfg := testPod(t, "life")
	cfg.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shm_rmid_forced": "1"}
	// As the kubelet sends for a pod without shareProcessNamespace (the
	// CRI's zero value, POD, shares one).
	pidPerContainer := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: pidPerContainer}
	id := runPod(t, ctx, cfg)
	st, err := env.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("state %v", st.Status.State)
	}
	ip := st.Status.Network.GetIp()
	_, subnet, _ := net.ParseCIDR(env.subnet)
	if !subnet.Contains(net.ParseIP(ip)) {
		t.Fatalf("pod IP %q not in %s", ip, env.subnet)
	}
	pods, err := env.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"app": "life"}}})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Id != id {
		t.Fatalf("ListPodSandbox by label = %v, %v", pods, err)
	}
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "f"), []byte("from-host"), 0o644)
	cc := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: "main"},
		Image:       &runtimeapi.ImageSpec{Image: "busybox"},
		Command:     []string{"sh", "-c"},
		Args:        []string{"echo out-$GREETING; echo err-line >&2; exec sleep 600"},
		Envs:        []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello")}},
		Labels:      map[string]string{"io.kubernetes.container.name": "main", "io.kubernetes.pod.name": "life"},
		Annotations: map[string]string{"io.kubernetes.container.hash": "abc"},
		Mounts:      []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir, Readonly: true}},
		LogPath:     "main/0.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuShares: 256},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 1000}, SupplementalGroups: []int64{4242}, NamespaceOptions: pidPerContainer},
		},
	}
	os.MkdirAll(filepath.Join(cfg.LogDirectory, "main"), 0o755)
	cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: cc, SandboxConfig: cfg})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	cid := cr.ContainerId
	cs, err := env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cid})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("status after create = %v, %v", cs, err)
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cid}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	execOut := func(cmd ...string) string {
		t.Helper()
		r, err := env.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cid, Cmd: cmd, Timeout: 10})
		if err != nil {
			t.Fatalf("ExecSync %v: %v", cmd, err)
		}
		if r.ExitCode != 0 {
			t.Fatalf("ExecSync %v: exit %d, stderr %s", cmd, r.ExitCode, r.Stderr)
		}
		return strings.TrimSpace(string(r.Stdout))
	}
	if got := execOut("hostname"); got != "life" {
		t.Errorf("hostname = %q", got)
	}
	if got := execOut("cat", "/etc/resolv.conf"); !strings.Contains(got, "nameserver 10.96.0.10") || !strings.Contains(got, "search default.svc.cluster.local") || !strings.Contains(got, "options ndots:5") {
		t.Errorf("resolv.conf = %q", got)
	}
	if got := execOut("id"); !strings.Contains(got, "uid=1000") || !strings.Contains(got, "4242") {
		t.Errorf("id = %q", got)
	}
	if got := execOut("cat", "/data/f"); got != "from-host" {
		t.Errorf("mounted file = %q", got)
	}
	if r, _ := env.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cid, Cmd: []string{"touch", "/data/x"}, Timeout: 10}); r == nil || r.ExitCode == 0 {
		t.Errorf("write to a read-only mount succeeded")
	}
	if got := execOut("ip", "-4", "-o", "addr", "show", "eth0"); !strings.Contains(got, ip+"/") {
		t.Errorf("eth0 = %q, want %s", got, ip)
	}
	if got := execOut("cat", "/proc/sys/kernel/shm_rmid_forced"); got != "1" {
		t.Errorf("pod sysctl kernel.shm_rmid_forced = %q", got)
	}
	r, err := env.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cid, Cmd: []string{"sh", "-c", "exit 3"}, Timeout: 10})
	if err != nil || r.ExitCode != 3 {
		t.Errorf("exit code = %v, %v", r, err)
	}
	// The log in the CRI format at the kubelet's path.
	logPath := filepath.Join(cfg.LogDirectory, "main", "0.log")
	var logData string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		b, _ := os.ReadFile(logPath)
		if logData = string(b); strings.Contains(logData, "err-line") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	re := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+ stdout F out-hello$`)
	if !re.MatchString(logData) || !regexp.MustCompile(`(?m)^\S+ stderr F err-line$`).MatchString(logData) {
		t.Errorf("CRI log = %q", logData)
	}
	// The Engine API reads the same file: docker logs works on a pod container.
	if r := testutil.DockerDriver(env.d, env.cfgDir).Run(ctx, nil, "logs", cid); r.Code != 0 || r.Out() != "out-hello" || strings.TrimSpace(r.Stderr) != "err-line" {
		t.Errorf("docker logs = %s", r)
	}
	// Reopen after the kubelet's rotation.
	os.Rename(logPath, logPath+".1")
	if _, err := env.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: cid}); err != nil {
		t.Errorf("ReopenContainerLog: %v", err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Errorf("log not reopened: %v", err)
	}
	// The pod's container is an engine container: docker ps sees it with its labels.
	dr := testutil.DockerDriver(env.d, env.cfgDir)
	ps := dr.Run(ctx, nil, "ps", "-a", "--filter", "label=io.kubernetes.pod.name=life", "--format", "{{.ID}} {{.Label \"io.kubernetes.container.name\"}}")
	if !strings.HasPrefix(cid, strings.Fields(ps.Out() + " x")[0]) || !strings.HasSuffix(ps.Out(), " main") {
		t.Errorf("docker ps = %s", ps)
	}
	cs, err = env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cid})
	if err != nil {
		t.Fatal(err)
	}
	s := cs.Status
	if s.State != runtimeapi.ContainerState_CONTAINER_RUNNING || s.StartedAt == 0 || s.Metadata.Name != "main" || s.LogPath != logPath ||
		s.Labels["io.kubernetes.pod.name"] != "life" || s.Annotations["io.kubernetes.container.hash"] != "abc" || len(s.Mounts) != 1 || !s.Mounts[0].Readonly {
		t.Errorf("ContainerStatus = %v", s)
	}
	if _, ok := s.Labels["io.berth.cri.sandbox-id"]; ok {
		t.Errorf("internal labels shown to the kubelet: %v", s.Labels)
	}
	// Stats: the memory cgroup of the container, under the pod's parent.
	stats, err := env.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: cid})
	if err != nil || stats.Stats.Memory.WorkingSetBytes.Value == 0 {
		t.Errorf("ContainerStats = %v, %v", stats, err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cfg.Linux.CgroupParent, cid)); err != nil {
		t.Errorf("container cgroup not under the pod's parent: %v", err)
	}
	list, err := env.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: id, State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil || len(list.Containers) != 1 || list.Containers[0].Annotations["io.kubernetes.container.hash"] != "abc" {
		t.Errorf("ListContainers = %v, %v", list, err)
	}
	// Stop with a timeout: sleep as PID 1 of its own namespace ignores
	// SIGTERM, so SIGKILL ends it.
	t0 := time.Now()
	if _, err := env.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: cid, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("stop took %v", d)
	}
	cs, err = env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cid})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || cs.Status.ExitCode != 137 || cs.Status.Reason != "Error" || cs.Status.FinishedAt == 0 {
		t.Errorf("status after stop = %v, %v", cs, err)
	}
	if _, err := env.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: cid}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Errorf("second StopPodSandbox: %v", err)
	}
	if _, err := env.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	assertPodGone(t, id, ip)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cfg.Linux.CgroupParent, cid)); !os.IsNotExist(err) {
		t.Errorf("container cgroup left: %v", err)
	}
}

func code(err error) string {
	if err == nil {
		return "OK"
	}
	s := err.Error()
	if i := strings.Index(s, "code = "); i >= 0 {
		return strings.Fields(s[i+7:])[0]
	}
	return fmt.Sprintf("?%v", err)
}

func httpGetQuiet(url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// httpGet fetches url, retrying while the server starts: for up to 30 s,
// not a count of tries (30 refused tries took 3 s, which a container's
// start can outlast on a loaded machine).
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var out string
	for deadline := time.Now().Add(30 * time.Second); out == "" && time.Now().Before(deadline); {
		if out = httpGetQuiet(url); out == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// TestHostPort publishes a pod port on the host through the portmap
// plugin and checks that its rules go with the pod.
func TestHostPort(t *testing.T) {
	ctx := ctxT(t)
	cfg := testPod(t, "hostport")
	cfg.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 8080, HostPort: 18091, Protocol: runtimeapi.Protocol_TCP}}
	id := runPod(t, ctx, cfg)
	cc := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "web"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sh", "-c", "mkdir -p /www; echo hostport-page > /www/index.html; exec httpd -f -p 8080 -h /www"},
	}
	cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: cc, SandboxConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if got := httpGet(t, "http://127.0.0.1:18091/"); got != "hostport-page" {
		t.Errorf("GET host port = %q", got)
	}
	st, _ := env.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	if _, err := env.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	assertPodGone(t, id, st.GetStatus().GetNetwork().GetIp())
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	if strings.Contains(string(out), "18091") {
		t.Errorf("host port rule left:\n%s", grepLines(string(out), "18091"))
	}
}

// TestSharedPID: a pod sharing its PID namespace has berth-pause as PID 1
// and its containers see each other's processes.
func TestSharedPID(t *testing.T) {
	ctx := ctxT(t)
	cfg := testPod(t, "sharedpid")
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD}}
	id := runPod(t, ctx, cfg)
	start := func(name string, cmd ...string) string {
		cc := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  cmd,
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_POD}}},
		}
		cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: cc, SandboxConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
			t.Fatal(err)
		}
		return cr.ContainerId
	}
	start("a", "sleep", "4242")
	b := start("b", "sleep", "600")
	r, err := env.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: b, Cmd: []string{"sh", "-c", "cat /proc/1/cmdline; echo; ps"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	out := string(r.Stdout)
	if !strings.HasPrefix(out, filepath.Join(testutil.BinDir(env.d.RepoDir), "berth-pause")) || !strings.Contains(out, "sleep 4242") {
		t.Errorf("shared PID namespace: %s", out)
	}
	var pausePid int
	if b, err := os.ReadFile(filepath.Join(env.d.Root, "cri", "sandboxes", id, "sandbox.json")); err == nil {
		fmt.Sscanf(grepAfter(string(b), `"PausePid":`), "%d", &pausePid)
	}
	if pausePid == 0 {
		t.Fatal("no berth-pause recorded")
	}
	env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pausePid)); err != nil {
			break
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pausePid))
		if strings.Contains(string(b), ") Z ") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pausePid)); err == nil && strings.Contains(string(b), "berth-pause") {
		t.Errorf("berth-pause %d still runs after StopPodSandbox", pausePid)
	}
}

func grepAfter(s, key string) string {
	if i := strings.Index(s, key); i >= 0 {
		return s[i+len(key):]
	}
	return ""
}

// TestPodOverhead reports the node runtime's memory per running pod: for
// pods as the kubelet makes them (no shared PID namespace) that is a
// share of a berth-monitor (one watches up to 16 containers) and no
// process for the pod itself.
func TestPodOverhead(t *testing.T) {
	ctx := ctxT(t)
	const pods = 5
	var total, n int
	monitors := map[int]bool{}
	for i := 0; i < pods; i++ {
		cfg := testPod(t, fmt.Sprintf("overhead%d", i))
		ns := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
		cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}
		id := runPod(t, ctx, cfg)
		cc := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "sleep"},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  []string{"sleep", "600"},
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: ns}},
		}
		cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, Config: cc, SandboxConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
			t.Fatal(err)
		}
		st, err := env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cr.ContainerId, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		fmt.Sscanf(grepAfter(st.Info["info"], `"pid":`), "%d", &pid)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("container pid %d: %v", pid, err)
		}
		var ppid int
		fmt.Sscanf(strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))[1], "%d", &ppid)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid)); !strings.HasSuffix(exe, "berth-monitor") {
			t.Fatalf("parent of the container is %s, not a berth-monitor", exe)
		}
		n++
		monitors[ppid] = true
	}
	for pid := range monitors {
		pss, err := testutil.PSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		total += pss
	}
	for _, pid := range testutil.ProcsWithArg(filepath.Join(testutil.BinDir(env.d.RepoDir), "berth-pause"), "") {
		t.Errorf("berth-pause %d runs for pods that do not share a PID namespace", pid)
	}
	t.Logf("node runtime memory per running pod (1 container): %.2f MB PSS (%d berth-monitor processes, no pause process, no per-pod shim)", float64(total)/float64(n)/1024, len(monitors))
}
