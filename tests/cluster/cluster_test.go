// Package cluster tests `berth cluster up` end to end: a private berthd
// brings up a single-node Kubernetes of upstream components whose kubelet
// runs pods through the daemon's CRI socket, workloads run and talk to each
// other, and `cluster down` leaves the host as it was.
//
// Skipped when the Kubernetes binaries are not built (make kube) or not
// root. BERTH_CLUSTER_RUNTIME=containerd runs the same test with a private
// Debian containerd as the kubelet's runtime instead of the daemon's CRI.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/cluster"
	"github.com/berth-project/berth/tests/testutil"
)

// kubeBin finds the cached Kubernetes binaries (scripts/kube-build.sh).
func kubeBin() string {
	root := os.Getenv("BERTH_KUBE_CACHE")
	if root == "" {
		root = "/var/cache/berth-kube"
	}
	matches, _ := filepath.Glob(filepath.Join(root, "k8s-*", "bin", "kubelet"))
	for _, m := range matches {
		dir := filepath.Dir(m)
		ok := true
		for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl", "coredns", "crictl"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return dir
		}
	}
	return ""
}

// app is the tutorial-style workload: a ConfigMap, a Deployment of busybox
// httpd (2 replicas, limits, env, the ConfigMap as a volume) and a Service.
const app = `apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data:
  message: hello-from-configmap
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo \"$(hostname) GREETING=$GREETING\" > /www/index.html && echo started $(hostname) GREETING=$GREETING && exec httpd -f -vv -p 80 -h /www"]
        env: [{name: GREETING, value: v1}]
        ports: [{containerPort: 80}]
        resources:
          requests: {cpu: 50m, memory: 32Mi}
          limits: {cpu: 500m, memory: 64Mi}
        volumeMounts: [{name: config, mountPath: /config}]
      volumes:
      - name: config
        configMap: {name: web-config}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
`

// built runs an image made by `berth build`, never pushed anywhere.
const built = `apiVersion: v1
kind: Pod
metadata: {name: built}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: built
    image: berth.local/cluster-test:1
    imagePullPolicy: IfNotPresent
`

// nodeRestrictObjects are a second Node (%[1]s, no kubelet behind it), a
// pod bound to it and one bound to this node (%[2]s).
const nodeRestrictObjects = `apiVersion: v1
kind: Node
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: on-other}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-self}
spec:
  nodeName: %[2]s
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
`

type env struct {
	t       *testing.T
	d       *testutil.Daemon
	bin     string // bin/berth
	kube    string // kube binaries
	home    string
	kcfg    string // the user's kubeconfig (KUBECONFIG)
	ns      string
	crictl  string
	runtime string // CRI endpoint the kubelet uses
	berthRT bool   // the daemon's own CRI
}

func (e *env) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "HOME="+e.home, "KUBECONFIG="+e.kcfg, "DOCKER_HOST=unix://"+e.d.Sock)
	return c
}

func (e *env) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := e.cmd(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (e *env) must(ctx context.Context, name string, args ...string) string {
	e.t.Helper()
	out, err := e.run(ctx, name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// kubectl runs the user's kubectl against the merged context "berth".
func (e *env) kubectl(ctx context.Context, args ...string) string {
	e.t.Helper()
	c := e.cmd(ctx, filepath.Join(e.kube, "kubectl"), append([]string{"-n", e.ns}, args...)...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output() // stdout only: answers are parsed
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (e *env) pods(ctx context.Context, selector string) []pod {
	e.t.Helper()
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				Phase string
				PodIP string
			}
		}
	}
	out := e.kubectl(ctx, "get", "pods", "-l", selector, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		e.t.Fatalf("pods: %v\n%s", err, out)
	}
	var ps []pod
	for _, i := range list.Items {
		ps = append(ps, pod{i.Metadata.Name, i.Status.Phase, i.Status.PodIP})
	}
	sort.Slice(ps, func(a, b int) bool { return ps[a].name < ps[b].name })
	return ps
}

type pod struct{ name, phase, ip string }

// hostSnapshot is what a cluster may change on the host, limited to the
// names of one daemon's cluster (other tests change the host meanwhile).
type hostSnapshot struct {
	links    []string
	nft      []string
	iptables []string
	sysctls  map[string]string
	cgroups  []string
	logLinks []string
}

func snapshot(id cluster.Identity, clusterDir string) hostSnapshot {
	var s hostSnapshot
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Name == id.Bridge {
			s.links = append(s.links, i.Name)
		}
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "kube-proxy") {
				s.nft = append(s.nft, l)
			}
		}
	}
	for _, tb := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables", "-w", "5", "-t", tb, "-S").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, id.Bridge) || strings.Contains(l, "KUBE-") || strings.Contains(l, `\"`+id.NetworkName+`\"`) {
				s.iptables = append(s.iptables, tb+": "+l)
			}
		}
	}
	s.sysctls = map[string]string{}
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/netfilter/nf_conntrack_max"} {
		b, _ := os.ReadFile("/proc/sys/" + k)
		s.sysctls[k] = strings.TrimSpace(string(b))
	}
	s.cgroups, _ = filepath.Glob("/sys/fs/cgroup/*" + id.CgroupRoot)
	ll, _ := os.ReadDir("/var/log/containers")
	for _, l := range ll {
		if t, err := os.Readlink(filepath.Join("/var/log/containers", l.Name())); err == nil && strings.HasPrefix(t, clusterDir) {
			s.logLinks = append(s.logLinks, l.Name())
		}
	}
	return s
}

func TestClusterOnBerth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cluster: needs root")
	}
	kube := kubeBin()
	if kube == "" {
		t.Skip("cluster: the Kubernetes binaries are not built; run `make kube` (about 10 minutes, cached in /var/cache/berth-kube)")
	}
	testutil.KubeLock(t)
	repo, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("/tmp", "bk")
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	if f := os.Getenv("BERTH_TEST_CRI_FLAG"); f != "" {
		extra = append(extra, f, "unix://"+filepath.Join(dir, "exec", "cri.sock"))
	}
	d, err := testutil.StartBerthdIn(ctx, dir, extra...)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	e := &env{t: t, d: d, bin: filepath.Join(testutil.BinDir(repo), "berth"), kube: kube, home: filepath.Join(dir, "home"), ns: "default", crictl: filepath.Join(kube, "crictl")}
	e.kcfg = filepath.Join(e.home, ".kube", "config")
	if os.Getenv("BERTH_CLUSTER_RUNTIME") == "containerd" {
		e.runtime = startContainerd(t, dir, filepath.Join(d.Root, "cni", "net.d"))
	} else {
		e.runtime = "unix://" + filepath.Join(d.Exec, "cri.sock")
		e.berthRT = true
		if _, err := os.Stat(filepath.Join(d.Exec, "cri.sock")); err != nil {
			d.Shutdown()
			testutil.RemoveDir(dir)
			t.Skip("cluster: this berthd serves no CRI socket (" + e.runtime + "); BERTH_CLUSTER_RUNTIME=containerd runs the test on containerd")
		}
	}
	clusterDir := filepath.Join(d.Root, "cluster")
	id := cluster.IdentityFor(d.Root)
	before := snapshot(id, clusterDir)
	downDone := false
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer ccancel()
		if !downDone {
			if out, err := e.run(cctx, e.bin, "cluster", "down"); err != nil {
				t.Errorf("cleanup: cluster down: %v\n%s", err, out)
			}
		}
		if err := d.Shutdown(); err != nil {
			d.Kill()
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.LogTail(6000))
		}
		testutil.RemoveDir(dir)
	})

	// The fixture image and one made by berth build, both only in berthd.
	tarData, err := testutil.BusyboxTarBytes()
	if err != nil {
		t.Fatal(err)
	}
	// A rootfs tar, so import (not load) makes the image.
	imp := e.cmd(ctx, e.bin, "import", "-c", `CMD ["sh"]`, "-", "busybox:latest")
	imp.Stdin = bytes.NewReader(tarData)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import busybox: %v\n%s", err, out)
	}
	bctx := filepath.Join(dir, "buildctx")
	os.MkdirAll(bctx, 0o755)
	os.WriteFile(filepath.Join(bctx, "Dockerfile"), []byte("FROM busybox:latest\nCOPY greeting /greeting\nCMD [\"sh\", \"-c\", \"cat /greeting; exec sleep 3600\"]\n"), 0o644)
	os.WriteFile(filepath.Join(bctx, "greeting"), []byte("built-by-berth-build\n"), 0o644)
	e.must(ctx, e.bin, "build", "-q", "-t", "berth.local/cluster-test:1", bctx)

	// up, with a private kubeconfig to merge into.
	t0 := time.Now()
	upArgs := []string{"cluster", "up"}
	if !e.berthRT {
		upArgs = append(upArgs, "--runtime-endpoint", e.runtime)
	}
	out := e.must(ctx, e.bin, upArgs...)
	t.Logf("cluster up took %s:\n%s", time.Since(t0).Round(time.Millisecond), out)
	if !strings.Contains(out, "Ready") || !strings.Contains(out, `context "berth"`) {
		t.Fatalf("up output: %s", out)
	}
	// A second up is a no-op on a running cluster.
	if out := e.must(ctx, e.bin, "cluster", "up"); !strings.Contains(out, "already running") {
		t.Fatalf("second up: %s", out)
	}
	st := e.must(ctx, e.bin, "cluster", "status")
	t.Logf("status:\n%s", st)
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "coredns"} {
		if !regexp.MustCompile(`(?m)^` + c + `\s+\d+\s+true`).MatchString(st) {
			t.Fatalf("%s not running:\n%s", c, st)
		}
	}
	kc, _ := os.ReadFile(e.kcfg)
	if !strings.Contains(string(kc), "current-context: berth") {
		t.Fatalf("kubeconfig not merged:\n%s", kc)
	}
	if out := e.must(ctx, e.bin, "kubectl", "get", "nodes", "--no-headers"); !strings.Contains(out, " Ready") {
		t.Fatalf("berth kubectl get nodes: %s", out)
	}
	if !e.berthRT {
		// A foreign runtime needs the pause image imported by hand.
		if out, err := exec.Command("ctr", "-a", strings.TrimPrefix(e.runtime, "unix://"), "-n", "k8s.io", "images", "import", filepath.Join(clusterDir, "pause-image.tar")).CombinedOutput(); err != nil {
			t.Fatalf("import pause into the runtime: %v\n%s", err, out)
		}
		saveTo := filepath.Join(dir, "imgs.tar")
		e.must(ctx, e.bin, "save", "-o", saveTo, "busybox:latest", "berth.local/cluster-test:1")
		if out, err := exec.Command("ctr", "-a", strings.TrimPrefix(e.runtime, "unix://"), "-n", "k8s.io", "images", "import", saveTo).CombinedOutput(); err != nil {
			t.Fatalf("import images into the runtime: %v\n%s", err, out)
		}
	}

	e.ns = "berth-test"
	e.kubectl(ctx, "create", "namespace", e.ns)
	appFile := filepath.Join(dir, "app.yaml")
	os.WriteFile(appFile, []byte(app), 0o644)
	t1 := time.Now()
	e.kubectl(ctx, "apply", "-f", appFile)
	e.kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=180s")
	t.Logf("2 replicas available %s after apply", time.Since(t1).Round(time.Millisecond))
	pods := e.pods(ctx, "app=web")
	if len(pods) != 2 {
		t.Fatalf("pods: %+v", pods)
	}
	for _, p := range pods {
		if p.phase != "Running" || p.ip == "" {
			t.Fatalf("pod %+v", p)
		}
	}

	t.Run("pods are Berth containers", func(t *testing.T) {
		if !e.berthRT {
			t.Skip("the kubelet runs on containerd (BERTH_CLUSTER_RUNTIME)")
		}
		out := e.must(ctx, e.bin, "ps", "--filter", "label=io.kubernetes.pod.namespace="+e.ns, "--format", "{{.Label \"io.kubernetes.pod.name\"}} {{.Label \"io.kubernetes.container.name\"}}")
		for _, p := range pods {
			if !strings.Contains(out, p.name+" web") {
				t.Fatalf("berth ps lacks %s:\n%s", p.name, out)
			}
		}
	})

	t.Run("exec env configmap limits", func(t *testing.T) {
		p := pods[0].name
		if out := e.kubectl(ctx, "exec", p, "--", "cat", "/config/message"); out != "hello-from-configmap" {
			t.Fatalf("config map volume: %q", out)
		}
		if out := e.kubectl(ctx, "exec", p, "--", "sh", "-c", "echo $GREETING"); out != "v1" {
			t.Fatalf("env: %q", out)
		}
		mem := e.kubectl(ctx, "exec", p, "--", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
		if mem != "67108864" {
			t.Fatalf("memory limit in the pod: %q", mem)
		}
		quota := e.kubectl(ctx, "exec", p, "--", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max")
		if quota != "50000" && !strings.HasPrefix(quota, "50000 ") {
			t.Fatalf("cpu limit in the pod: %q", quota)
		}
		// Exit codes come back through exec.
		if _, err := e.run(ctx, filepath.Join(kube, "kubectl"), "-n", e.ns, "exec", p, "--", "sh", "-c", "exit 3"); err == nil {
			t.Fatal("exec exit 3 reported success")
		}
	})

	t.Run("logs -f", func(t *testing.T) {
		p := pods[0]
		lctx, lcancel := context.WithTimeout(ctx, 60*time.Second)
		defer lcancel()
		c := e.cmd(lctx, filepath.Join(kube, "kubectl"), "-n", e.ns, "logs", "-f", p.name)
		stdout, _ := c.StdoutPipe()
		c.Stderr = c.Stdout
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { lcancel(); c.Wait() }()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		sawStart, sawReq := false, false
		marker := fmt.Sprintf("/follow-%d", time.Now().UnixNano())
		deadline := time.After(45 * time.Second)
		requested := false
		for !(sawStart && sawReq) {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("logs -f ended (start %v, request %v)", sawStart, sawReq)
				}
				if strings.Contains(l, "started "+p.name+" GREETING=v1") {
					sawStart = true
				}
				if strings.Contains(l, marker) {
					sawReq = true
				}
				if sawStart && !requested {
					// A request now must reach the stream while it follows.
					requested = true
					e.run(ctx, filepath.Join(kube, "kubectl"), "-n", e.ns, "exec", pods[1].name, "--", "wget", "-q", "-O", "/dev/null", "http://"+p.ip+":80"+marker)
				}
			case <-deadline:
				t.Fatalf("logs -f: start line %v, request line %v", sawStart, sawReq)
			}
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		p := pods[0]
		pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
		defer pcancel()
		c := e.cmd(pctx, filepath.Join(kube, "kubectl"), "-n", e.ns, "port-forward", "pod/"+p.name, "0:80")
		stdout, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { pcancel(); c.Wait() }()
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 80`)
		sc := bufio.NewScanner(stdout)
		port := ""
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				port = m[1]
				break
			}
		}
		if port == "" {
			t.Fatal("port-forward printed no local port")
		}
		go io.Copy(io.Discard, stdout)
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), p.name+" GREETING=v1") {
			t.Fatalf("through port-forward: %q", body)
		}
	})

	svcIP := e.kubectl(ctx, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	t.Run("pod to pod, Service and DNS name", func(t *testing.T) {
		a, b := pods[0], pods[1]
		if out := e.kubectl(ctx, "exec", a.name, "--", "timeout", "10", "wget", "-q", "-O", "-", "http://"+b.ip+":80/"); !strings.Contains(out, b.name) {
			t.Fatalf("pod to pod: %q", out)
		}
		seen := map[string]bool{}
		for i := 0; i < 20 && len(seen) < 2; i++ {
			out := e.kubectl(ctx, "exec", a.name, "--", "timeout", "10", "wget", "-q", "-O", "-", "http://"+svcIP+":80/")
			for _, p := range pods {
				if strings.Contains(out, p.name) {
					seen[p.name] = true
				}
			}
		}
		if len(seen) == 0 {
			t.Fatal("pod to Service: no answer through the ClusterIP")
		}
		t.Logf("the Service's ClusterIP %s reached %d of 2 pods", svcIP, len(seen))
		// busybox's wget cannot look names up (static glibc); nslookup can.
		name := "web." + e.ns + ".svc.cluster.local"
		out := e.kubectl(ctx, "exec", a.name, "--", "nslookup", name)
		if !strings.Contains(out, svcIP) {
			t.Fatalf("nslookup %s did not answer %s:\n%s", name, svcIP, out)
		}
		if rc := e.kubectl(ctx, "exec", a.name, "--", "cat", "/etc/resolv.conf"); !strings.Contains(rc, "search "+e.ns+".svc.cluster.local") {
			t.Fatalf("pod resolv.conf:\n%s", rc)
		}
		// And from the host, the ClusterIP goes through kube-proxy too.
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + svcIP + ":80/")
		if err != nil {
			t.Fatalf("host to Service: %v", err)
		}
		resp.Body.Close()
	})

	t.Run("scale and rolling update", func(t *testing.T) {
		e.kubectl(ctx, "scale", "deployment/web", "--replicas=3")
		e.kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=120s")
		if ps := e.pods(ctx, "app=web"); len(ps) != 3 {
			t.Fatalf("after scale: %+v", ps)
		}
		old := e.pods(ctx, "app=web")
		e.kubectl(ctx, "set", "env", "deployment/web", "GREETING=v2")
		e.kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=180s")
		var cur []pod
		for i := 0; i < 100; i++ { // terminating old pods leave the list
			cur = e.pods(ctx, "app=web")
			if len(cur) == 3 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if len(cur) != 3 {
			t.Fatalf("after the rolling update: %+v", cur)
		}
		for _, p := range cur {
			if slices.ContainsFunc(old, func(o pod) bool { return o.name == p.name }) {
				t.Fatalf("pod %s survived the rolling update", p.name)
			}
			if out := e.kubectl(ctx, "exec", p.name, "--", "sh", "-c", "echo $GREETING"); out != "v2" {
				t.Fatalf("%s GREETING=%q", p.name, out)
			}
		}
	})

	t.Run("image from berth build without a pull", func(t *testing.T) {
		f := filepath.Join(dir, "built.yaml")
		os.WriteFile(f, []byte(built), 0o644)
		e.kubectl(ctx, "apply", "-f", f)
		e.kubectl(ctx, "wait", "--for=condition=Ready", "pod/built", "--timeout=120s")
		if out := e.kubectl(ctx, "logs", "built"); out != "built-by-berth-build" {
			t.Fatalf("logs of the built image: %q", out)
		}
		// berth.local does not resolve: a pull would have failed the pod.
		ev := e.kubectl(ctx, "get", "events", "--field-selector", "involvedObject.name=built", "-o", "jsonpath={.items[*].reason}")
		if strings.Contains(ev, "Pulling") || !strings.Contains(ev, "Pulled") {
			t.Fatalf("events of the built pod: %s", ev)
		}
		e.kubectl(ctx, "delete", "-f", f, "--wait=true", "--timeout=60s")
	})

	t.Run("a node's credential reaches its own node only", func(t *testing.T) {
		// The kubelet's kubeconfig (system:node:NAME) against a second Node
		// and a pod bound to it, both made by the admin: the Node
		// authorizer alone lets a kubelet update any Node and delete any
		// pod; NodeRestriction confines it to its own.
		self := e.kubectl(ctx, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
		other := "berth-test-other-node"
		f := filepath.Join(dir, "restrict.yaml")
		os.WriteFile(f, []byte(fmt.Sprintf(nodeRestrictObjects, other, self)), 0o644)
		e.kubectl(ctx, "apply", "-f", f)
		defer func() {
			e.run(ctx, filepath.Join(kube, "kubectl"), "-n", e.ns, "delete", "pod", "on-other", "--force", "--grace-period=0", "--ignore-not-found")
			e.run(ctx, filepath.Join(kube, "kubectl"), "delete", "node", other, "--ignore-not-found")
			e.run(ctx, filepath.Join(kube, "kubectl"), "label", "node", self, "berth.test/own-")
		}()
		e.kubectl(ctx, "wait", "--for=condition=Ready", "pod/on-self", "--timeout=120s")
		asNode := func(args ...string) (string, error) {
			return e.run(ctx, filepath.Join(kube, "kubectl"), append([]string{"--kubeconfig", filepath.Join(clusterDir, "kubeconfig", "kubelet.kubeconfig"), "-n", e.ns}, args...)...)
		}
		if out, err := asNode("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "system:node:"+self {
			t.Fatalf("the kubelet's credential is %q (%v)", out, err)
		}
		refused := []struct {
			args []string
			want string
		}{
			{[]string{"label", "node", other, "berth.test/x=1"}, `node "` + self + `" is not allowed to modify node "` + other + `"`},
			{[]string{"annotate", "node", other, "berth.test/x=1"}, `is not allowed to modify node`},
			{[]string{"delete", "pod", "on-other", "--wait=false"}, `can only delete pods with spec.nodeName set to itself`},
			{[]string{"label", "node", self, "node-role.kubernetes.io/worker="}, `is not allowed to modify labels: node-role.kubernetes.io/worker`},
			{[]string{"label", "node", self, "node-role.kubernetes.io/control-plane-"}, `is not allowed to modify labels: node-role.kubernetes.io/control-plane`},
			{[]string{"label", "node", self, "node-restriction.kubernetes.io/x=1"}, `is not allowed to modify labels: node-restriction.kubernetes.io/x`},
			{[]string{"taint", "node", self, "berth.test/x=1:NoSchedule"}, `is not allowed to modify taints`},
			{[]string{"create", "token", "default"}, `node requested token not bound to a pod`},
		}
		for _, r := range refused {
			out, err := asNode(r.args...)
			if err == nil || !strings.Contains(strings.ToLower(out), "forbidden") || !strings.Contains(out, r.want) {
				t.Errorf("as the node, kubectl %s: %v\n%s\nwant Forbidden: %s", strings.Join(r.args, " "), err, out, r.want)
			}
		}
		if v := e.kubectl(ctx, "get", "node", other, "-o", "jsonpath={.metadata.labels.berth\\.test/x}"); v != "" {
			t.Errorf("the other node got a label from the node's credential: %q", v)
		}
		if v := e.kubectl(ctx, "get", "pod", "on-other", "-o", "jsonpath={.metadata.deletionTimestamp}"); v != "" {
			t.Errorf("the pod on the other node is being deleted: %q", v)
		}
		// Its own node and pods it may change.
		if out, err := asNode("label", "node", self, "berth.test/own=1"); err != nil {
			t.Errorf("as the node, label its own node: %v\n%s", err, out)
		}
		if out, err := asNode("delete", "pod", "on-self", "--wait=true", "--timeout=60s"); err != nil {
			t.Errorf("as the node, delete a pod bound to it: %v\n%s", err, out)
		}
		if v := e.kubectl(ctx, "get", "node", self, "-o", "jsonpath={.metadata.labels.berth\\.test/own}"); v != "1" {
			t.Errorf("own label: %q", v)
		}
		if out := e.kubectl(ctx, "get", "pod", "on-self", "--ignore-not-found"); out != "" {
			t.Errorf("the node's own pod is still there: %s", out)
		}
	})

	t.Run("delete -f leaves no pod container", func(t *testing.T) {
		e.kubectl(ctx, "delete", "-f", appFile, "--wait=true", "--timeout=120s")
		for i := 0; ; i++ {
			left := e.kubectl(ctx, "get", "pods", "--no-headers", "--ignore-not-found")
			if left == "" {
				break
			}
			if i > 200 {
				t.Fatalf("pods left after delete:\n%s", left)
			}
			time.Sleep(300 * time.Millisecond)
		}
		var cs []string
		for i := 0; i < 100; i++ {
			// stdout only: crictl may warn on stderr.
			out, err := e.cmd(ctx, e.crictl, "--runtime-endpoint", e.runtime, "--image-endpoint", e.runtime, "ps", "-a", "-q", "--label", "io.kubernetes.pod.namespace="+e.ns).Output()
			if err != nil {
				t.Fatalf("crictl ps: %v", err)
			}
			cs = strings.Fields(string(out))
			if len(cs) == 0 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if len(cs) != 0 {
			t.Fatalf("containers of deleted pods remain: %v", cs)
		}
		if e.berthRT {
			if out := e.must(ctx, e.bin, "ps", "-a", "-q", "--filter", "label=io.kubernetes.pod.namespace="+e.ns); out != "" {
				t.Fatalf("berth ps -a still lists pod containers: %s", out)
			}
		}
	})

	// down leaves nothing: processes, mounts, cgroups, links, rules, sysctls.
	t0 = time.Now()
	out = e.must(ctx, e.bin, "cluster", "down")
	downDone = true
	t.Logf("cluster down took %s: %s", time.Since(t0).Round(time.Millisecond), out)
	if pids := procsOf(kube); len(pids) > 0 {
		for _, pid := range pids {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(b), dir) {
				t.Errorf("process %d left: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
	if ms, _ := testutil.MountsUnder(clusterDir); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	if _, err := os.Stat(clusterDir); err == nil {
		t.Errorf("%s left", clusterDir)
	}
	after := snapshot(id, clusterDir)
	if !slices.Equal(before.links, after.links) {
		t.Errorf("links before %v, after %v", before.links, after.links)
	}
	if !slices.Equal(before.nft, after.nft) {
		t.Errorf("nft tables before %v, after %v", before.nft, after.nft)
	}
	if !slices.Equal(before.iptables, after.iptables) {
		t.Errorf("iptables rules before %v, after %v", before.iptables, after.iptables)
	}
	for k, v := range before.sysctls {
		if after.sysctls[k] != v {
			t.Errorf("sysctl %s was %s, is %s", k, v, after.sysctls[k])
		}
	}
	if !slices.Equal(before.cgroups, after.cgroups) {
		t.Errorf("cgroups before %v, after %v", before.cgroups, after.cgroups)
	}
	if !slices.Equal(before.logLinks, after.logLinks) {
		t.Errorf("/var/log/containers before %v, after %v", before.logLinks, after.logLinks)
	}
	if kc, _ := os.ReadFile(e.kcfg); strings.Contains(string(kc), "berth") {
		t.Errorf("kubeconfig still names the cluster:\n%s", kc)
	}
	if out := e.must(ctx, e.bin, "cluster", "status"); !strings.Contains(out, "down") {
		t.Errorf("status after down: %s", out)
	}
}

// procsOf lists processes running a binary of dir.
func procsOf(dir string) []int {
	var pids []int
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "coredns"} {
		pids = append(pids, testutil.ProcsWithArg(filepath.Join(dir, b), "")...)
	}
	return pids
}
