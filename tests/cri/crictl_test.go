package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// crictl runs the cri-tools client against the test daemon's CRI socket.
type crictl struct {
	t   *testing.T
	bin string
}

func newCrictl(t *testing.T) *crictl {
	bin := kubeBin("crictl")
	if bin == "" {
		t.Skip("crictl not built: run `make kube` (scripts/kube-build.sh) to fill /var/cache/berth-kube/*/bin; skipping the crictl test")
	}
	return &crictl{t: t, bin: bin}
}

func (c *crictl) run(stdin string, args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--runtime-endpoint", "unix://" + env.sock, "--image-endpoint", "unix://" + env.sock, "--timeout", "30s"}, args...)
	cmd := exec.CommandContext(ctx, c.bin, full...)
	cmd.Env = append(os.Environ(), "CRI_CONFIG_FILE=/dev/null")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (c *crictl) must(args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCrictl(t *testing.T) {
	c := newCrictl(t)
	dir := t.TempDir()
	uid := randHex(8)
	parent := "/berthcri" + randHex(4)
	t.Cleanup(func() { removeCgroup(strings.Trim(parent, "/")) })
	podCfg := writeJSON(t, dir, "pod.json", map[string]any{
		"metadata":      map[string]any{"name": "crictl-pod", "namespace": "default", "uid": uid},
		"hostname":      "crictl-pod",
		"log_directory": filepath.Join(dir, "logs"),
		"port_mappings": []map[string]any{{"container_port": 8080, "host_port": 0}},
		"linux":         map[string]any{"cgroup_parent": parent + "/pod" + uid},
		"labels":        map[string]string{"suite": "crictl"},
	})
	ctrCfg := writeJSON(t, dir, "ctr.json", map[string]any{
		"metadata": map[string]any{"name": "web"},
		"image":    map[string]any{"image": "busybox"},
		"command":  []string{"sh", "-c", "echo started; mkdir -p /www; echo page > /www/index.html; exec httpd -f -p 8080 -h /www"},
		"log_path": "web.log",
		"labels":   map[string]string{"io.kubernetes.container.name": "web"},
	})
	pod := c.must("runp", podCfg)
	t.Cleanup(func() { c.run("stopp", pod); c.run("rmp", pod) })
	if out := c.must("pods", "-q", "--label", "suite=crictl"); out != pod {
		t.Errorf("crictl pods = %q, want %s", out, pod)
	}
	ctr := c.must("create", pod, ctrCfg, podCfg)
	c.must("start", ctr)
	if out := c.must("ps", "-q", "--pod", pod, "--state", "Running"); out != ctr {
		t.Errorf("crictl ps = %q, want %s", out, ctr)
	}
	// exec streams through the CRI streaming server; -i passes stdin.
	if out := c.must("exec", ctr, "echo", "hello"); out != "hello" {
		t.Errorf("crictl exec = %q", out)
	}
	if out, err := c.run("piped-input\n", "exec", "-i", ctr, "cat"); err != nil || out != "piped-input" {
		t.Errorf("crictl exec -i = %q, %v", out, err)
	}
	// The exit code reaches crictl through the streaming protocol.
	if out, err := c.run("", "exec", ctr, "sh", "-c", "exit 7"); err == nil || !strings.Contains(out, "exit code 7") {
		t.Errorf("crictl exec of a failing command = %q, %v; want exit code 7", out, err)
	}
	if out := c.must("exec", "-s", ctr, "hostname"); out != "crictl-pod" {
		t.Errorf("crictl exec -s hostname = %q", out)
	}
	// Logs: crictl reads the CRI-format file at the kubelet's path.
	var logs string
	for i := 0; i < 50 && !strings.Contains(logs, "started"); i++ {
		logs = c.must("logs", ctr)
		time.Sleep(100 * time.Millisecond)
	}
	if logs != "started" {
		t.Errorf("crictl logs = %q", logs)
	}
	// inspect/inspectp are JSON with the state and the pod's IP.
	var insp struct {
		Status struct {
			State    string                `json:"state"`
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(c.must("inspect", ctr)), &insp); err != nil || insp.Status.State != "CONTAINER_RUNNING" || insp.Status.Metadata.Name != "web" {
		t.Errorf("crictl inspect = %+v, %v", insp, err)
	}
	var inspp struct {
		Status struct {
			State   string              `json:"state"`
			Network struct{ IP string } `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(c.must("inspectp", pod)), &inspp); err != nil || inspp.Status.State != "SANDBOX_READY" || net.ParseIP(inspp.Status.Network.IP) == nil {
		t.Fatalf("crictl inspectp = %+v, %v", inspp, err)
	}
	// The pod's web server answers on its CNI address from the host.
	if out := httpGet(t, fmt.Sprintf("http://%s:8080/", inspp.Status.Network.IP)); out != "page" {
		t.Errorf("GET pod IP = %q", out)
	}
	// port-forward goes through the streaming server into the pod's netns.
	pf := exec.Command(c.bin, "--runtime-endpoint", "unix://"+env.sock, "port-forward", pod, "18089:8080")
	pf.Env = append(os.Environ(), "CRI_CONFIG_FILE=/dev/null")
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pf.Process.Kill(); pf.Wait() }()
	var got string
	// Until crictl listens: up to 30 s (50 refused tries took 5 s).
	for deadline := time.Now().Add(30 * time.Second); got != "page" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		got = httpGetQuiet(fmt.Sprintf("http://127.0.0.1:%d/", 18089))
	}
	if got != "page" {
		t.Errorf("GET through crictl port-forward = %q", got)
	}
	if out := c.must("images", "-q", "busybox"); out == "" {
		t.Errorf("crictl images busybox is empty")
	}
	if out := c.must("stats", "-o", "json", ctr); !strings.Contains(out, "workingSetBytes") {
		t.Errorf("crictl stats = %s", out)
	}
	// The same container through the Engine API.
	ps := testutil.DockerDriver(env.d, env.cfgDir).Run(context.Background(), nil, "ps", "--no-trunc", "-q", "--filter", "label=io.kubernetes.container.name=web")
	if ps.Out() != ctr {
		t.Errorf("docker ps = %q, want %s", ps.Out(), ctr)
	}
	c.must("stop", "-t", "2", ctr)
	if out := c.must("ps", "-a", "-q", "--state", "Exited", "--pod", pod); out != ctr {
		t.Errorf("crictl ps -a exited = %q", out)
	}
	c.must("rm", ctr)
	c.must("stopp", pod)
	c.must("rmp", pod)
	if out := c.must("pods", "-q"); strings.Contains(out, pod) {
		t.Errorf("pod still listed: %q", out)
	}
	assertPodGone(t, pod, inspp.Status.Network.IP)
}
