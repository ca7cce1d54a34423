package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The Kubernetes part of the bench: the same single-node cluster (`berth
// cluster up`) once with berthd's CRI as the kubelet's runtime and once with
// a private Debian containerd, measured the same way.

const (
	kubeRTBerthd     = "berthd"
	kubeRTContainerd = "containerd"
	kubeReplicas     = 10
	kubeNS           = "bench"
)

// kubeResult is one runtime's figures; zero means not measured.
type kubeResult struct {
	apply               time.Duration // kubectl apply of a 10-replica Deployment to all pods Running
	runp, create, start time.Duration // crictl, one pod, medians
	crictlAll           time.Duration // runp + create + start, median of the sums
	perPodProcs         float64       // kB PSS per pod of the monitor / shim processes
	perPodAll           float64       // kB PSS per pod of everything the runtime runs (daemon growth, monitors / shims, pause)
	procsPerPod         float64       // monitor / shim processes per pod (a berth-monitor watches up to 16 containers)
	crictlFailed        int           // crictl rounds that failed and were run again
	loadStart, loadEnd  float64       // 1-minute load average when the runtime's rounds began and ended
}

// benchKube measures each runtime and prints the table.
func benchKube(ctx context.Context, runtimes []string, applyRuns, crictlRuns int, trace bool) {
	kube := testutil.KubeBinDir()
	if kube == "" {
		fmt.Fprintln(os.Stderr, "bench-kube: skipped: the Kubernetes binaries are not cached in /var/cache/berth-kube (run `make kube`, about 10 minutes)")
		return
	}
	if _, err := os.Stat(filepath.Join(kube, "crictl")); err != nil {
		fmt.Fprintln(os.Stderr, "bench-kube: skipped: crictl is not in "+kube+" (run `make kube`)")
		return
	}
	results := map[string]*kubeResult{}
	var order []string
	for _, rt := range runtimes {
		if rt == kubeRTContainerd {
			if _, err := exec.LookPath("containerd"); err != nil {
				fmt.Fprintln(os.Stderr, "bench-kube: containerd not installed (apt-get install containerd), skipped")
				continue
			}
		}
		fmt.Fprintf(os.Stderr, "bench-kube: measuring a cluster on %s...\n", rt)
		r, err := measureKube(ctx, kube, rt, applyRuns, crictlRuns, trace)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-kube: %s: %v\n", rt, err)
			continue
		}
		results[rt] = r
		order = append(order, rt)
	}
	printKubeTable(order, results, applyRuns, crictlRuns)
}

// kubeSession is one berthd owning one cluster whose kubelet uses endpoint.
type kubeSession struct {
	d        *testutil.Daemon
	dir      string
	kube     string
	berth    string
	env      []string
	endpoint string // CRI endpoint of the kubelet (unix://...)
	rt       string
	ctrd     *exec.Cmd // the private containerd, when rt is containerd
	proxy    *criProxy // between the kubelet and the runtime, with -kube-trace
	cs       *kubernetes.Clientset
	kcfg     string
}

func (s *kubeSession) cmd(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = s.env
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

func (s *kubeSession) crictl(ctx context.Context, args ...string) (string, error) {
	return s.cmd(ctx, nil, filepath.Join(s.kube, "crictl"), append([]string{"--runtime-endpoint", s.endpoint, "--image-endpoint", s.endpoint, "--timeout", "60s"}, args...)...)
}

func (s *kubeSession) kubectl(ctx context.Context, args ...string) (string, error) {
	return s.cmd(ctx, nil, filepath.Join(s.kube, "kubectl"), append([]string{"--kubeconfig", s.kcfg}, args...)...)
}

func measureKube(ctx context.Context, kube, rt string, applyRuns, crictlRuns int, trace bool) (res *kubeResult, err error) {
	repo, err := testutil.RepoRoot()
	if err != nil {
		return nil, err
	}
	// One cluster per host: queue behind the tests and other benches.
	release, waited, err := testutil.LockKube()
	if err != nil {
		return nil, err
	}
	defer release()
	if waited > time.Second {
		fmt.Fprintf(os.Stderr, "bench-kube: waited %s for another cluster to finish\n", waited.Round(time.Second))
	}
	dir, err := os.MkdirTemp("/tmp", "bk")
	if err != nil {
		return nil, err
	}
	d, err := testutil.StartBerthdIn(ctx, dir, "--group", "root")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &kubeSession{d: d, dir: dir, kube: kube, rt: rt, berth: filepath.Join(testutil.BinDir(repo), "berth"),
		env: append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "DOCKER_HOST=unix://"+d.Sock, "BERTH_HOST=", "CRI_CONFIG_FILE=/dev/null")}
	clusterUp := false
	defer func() {
		cctx := context.WithoutCancel(ctx)
		if clusterUp {
			if _, derr := s.cmd(cctx, nil, s.berth, "cluster", "down"); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		if s.proxy != nil {
			s.proxy.stop()
		}
		s.stopContainerd()
		if serr := d.Shutdown(); serr != nil {
			d.Kill()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-kube: daemon log tail:\n%s\n", d.LogTail(3000))
		}
		testutil.RemoveDir(dir)
	}()
	tarData, err := testutil.BusyboxTarBytes()
	if err != nil {
		return nil, err
	}
	if _, err := s.cmd(ctx, tarData, s.berth, "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); err != nil {
		return nil, err
	}
	upArgs := []string{"cluster", "up", "--no-kubeconfig"}
	if rt == kubeRTContainerd {
		if s.endpoint, err = s.startContainerd(filepath.Join(d.Root, "cni", "net.d")); err != nil {
			return nil, err
		}
	} else {
		s.endpoint = "unix://" + filepath.Join(d.Exec, "cri.sock")
	}
	switch {
	case trace:
		sock := filepath.Join(dir, "crip.sock")
		if s.proxy, err = startCRIProxy(sock, s.endpoint); err != nil {
			return nil, err
		}
		upArgs = append(upArgs, "--runtime-endpoint", "unix://"+sock)
	case rt == kubeRTContainerd:
		upArgs = append(upArgs, "--runtime-endpoint", s.endpoint)
	}
	clusterUp = true
	if err := s.up(ctx, upArgs); err != nil {
		return nil, err
	}
	kc, err := s.cmd(ctx, nil, s.berth, "cluster", "kubeconfig")
	if err != nil {
		return nil, err
	}
	s.kcfg = filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(s.kcfg, []byte(kc+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kcfg)
	if err != nil {
		return nil, err
	}
	if s.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if rt == kubeRTContainerd {
		// containerd has its own image store: the pause image and busybox go in by hand.
		sock := strings.TrimPrefix(s.endpoint, "unix://")
		saved := filepath.Join(dir, "busybox.tar")
		if _, err := s.cmd(ctx, nil, s.berth, "save", "-o", saved, "busybox:latest"); err != nil {
			return nil, err
		}
		for _, tar := range []string{filepath.Join(d.Root, "cluster", "pause-image.tar"), saved} {
			if _, err := s.cmd(ctx, nil, "ctr", "-a", sock, "-n", "k8s.io", "images", "import", tar); err != nil {
				return nil, err
			}
		}
	}
	if _, err := s.kubectl(ctx, "create", "namespace", kubeNS); err != nil {
		return nil, err
	}
	// Pods are refused until the namespace's default service account exists.
	if err := s.waitServiceAccount(ctx, kubeNS, time.Minute); err != nil {
		return nil, err
	}
	r := &kubeResult{loadStart: loadAvg()}
	defer func() { r.loadEnd = loadAvg() }()
	res = r
	if err := s.measureApply(ctx, res, applyRuns); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	// crictl goes to the runtime with the cluster down: a running kubelet
	// kills every pod it did not make within a second or two. The pods get
	// the cluster's own CNI network, written back under the same name.
	conf, err := s.clusterCNIConfig()
	if err != nil {
		return nil, err
	}
	clusterUp = false
	if _, err := s.cmd(ctx, nil, s.berth, "cluster", "down"); err != nil {
		return nil, err
	}
	if err := s.measureCrictl(ctx, res, crictlRuns, conf); err != nil {
		// The apply and memory figures stand; the crictl rows show "-".
		fmt.Fprintf(os.Stderr, "bench-kube: %s: crictl: %v\n", rt, err)
		res.runp, res.create, res.start, res.crictlAll = 0, 0, 0, 0
	}
	return res, nil
}

const kubeDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: bench, namespace: bench}
spec:
  replicas: %d
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      terminationGracePeriodSeconds: 1
      enableServiceLinks: false
      automountServiceAccountToken: false
      containers:
      - name: sleep
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap exit TERM; sleep 3600 & wait"]
`

// measureApply times `kubectl apply` of the Deployment until all its pods
// are Running, runs times after a warm-up; before the last delete, with the
// pods running, it takes the memory figures.
func (s *kubeSession) measureApply(ctx context.Context, res *kubeResult, runs int) error {
	file := filepath.Join(s.dir, "deploy.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(kubeDeployment, kubeReplicas)), 0o644); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // let the cluster settle after up
	baseAll, baseProcs, nBase, err := s.runtimePSS()
	if err != nil {
		return err
	}
	var ds []time.Duration
	for i := 0; i <= runs; i++ {
		if s.proxy != nil {
			s.proxy.record(true)
		}
		start := time.Now()
		if _, err := s.kubectl(ctx, "apply", "-f", file); err != nil {
			return err
		}
		if err := s.waitPods(ctx, kubeNS, "app=bench", kubeReplicas, 3*time.Minute); err != nil {
			return err
		}
		took := time.Since(start)
		if s.proxy != nil {
			s.proxy.report(fmt.Sprintf("%s, apply round %d", s.rt, i), took)
			s.proxy.record(false)
		}
		if i > 0 { // the first is a warm-up
			ds = append(ds, took)
		}
		fmt.Fprintf(os.Stderr, "bench-kube: %s: %d pods Running %s after apply\n", s.rt, kubeReplicas, took.Round(time.Millisecond))
		if i == runs {
			time.Sleep(3 * time.Second)
			all, procs, n, err := s.runtimePSS()
			if err != nil {
				return err
			}
			res.perPodAll = float64(all-baseAll) / kubeReplicas
			res.perPodProcs = float64(procs-baseProcs) / kubeReplicas
			res.procsPerPod = float64(n-nBase) / kubeReplicas
		}
		if err := s.deleteDeployment(ctx, file); err != nil {
			return err
		}
	}
	res.apply = medianOf(ds)
	return nil
}

func (s *kubeSession) waitServiceAccount(ctx context.Context, ns string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := s.cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service account default in %s: %w", ns, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPods waits until namespace holds want pods matching selector, all
// Running.
func (s *kubeSession) waitPods(ctx context.Context, ns, selector string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list, err := s.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			running := 0
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					running++
				}
			}
			if running == want && len(list.Items) == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods (%s) not Running after %s (%v)", want, selector, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deleteDeployment deletes it and waits until its pods are gone from the
// API and their sandboxes are no longer ready in the runtime, so the next
// round starts on an idle node.
func (s *kubeSession) deleteDeployment(ctx context.Context, file string) error {
	if _, err := s.kubectl(ctx, "delete", "-f", file, "--wait"); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := s.cs.CoreV1().Pods(kubeNS).List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 0 {
			out, err := s.crictl(ctx, "pods", "-q", "--namespace", kubeNS, "--state", "ready")
			if err == nil && out == "" {
				time.Sleep(2 * time.Second)
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return errors.New("the deleted Deployment's pods did not go away in 3 minutes")
}

// runtimePSS sums PSS (kB) of what the node runtime runs: all is the daemon
// plus the processes it runs for pods (berthd with its monitors; containerd
// with its shims and their pause processes); procs the monitors or shims
// alone (berth-monitor, containerd-shim-runc-v2), n their number.
func (s *kubeSession) runtimePSS() (all, procs, n int, err error) {
	var daemon int
	var perPod, pause []int
	switch s.rt {
	case kubeRTBerthd:
		daemon = s.d.Pid()
		perPod = testutil.ProcsWithArg(filepath.Join(testutil.BinDir(s.d.RepoDir), "berth-monitor"), s.d.Exec+"/")
	case kubeRTContainerd:
		daemon = s.ctrd.Process.Pid
		perPod = testutil.ProcsWithArg("", strings.TrimPrefix(s.endpoint, "unix://"))
		for _, pid := range perPod {
			pause = append(pause, childrenNamed(pid, "/pause")...)
		}
	}
	sum := func(pids []int) int {
		t := 0
		for _, pid := range pids {
			if kb, err := testutil.PSS(pid); err == nil {
				t += kb
			}
		}
		return t
	}
	d := sum([]int{daemon})
	if d == 0 {
		return 0, 0, 0, errors.New("no runtime daemon process")
	}
	procs = sum(perPod)
	return d + procs + sum(pause), procs, len(perPod), nil
}

// childrenNamed lists the children of ppid whose argv[0] is name.
func childrenNamed(ppid int, name string) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid))
	if err != nil {
		return nil
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		fmt.Sscan(f, &pid)
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.SplitN(string(cmd), "\x00", 2)[0] == name {
			out = append(out, pid)
		}
	}
	return out
}

// measureCrictl times crictl runp, create and start of one busybox pod on
// the cluster's runtime, then removes the pod outside the timing.
func (s *kubeSession) measureCrictl(ctx context.Context, res *kubeResult, runs int, conf *cniConf) error {
	undo, err := conf.install(filepath.Join(s.dir, "crictl-ipam"))
	if err != nil {
		return err
	}
	defer undo()
	var rps, crs, sts, alls []time.Duration
	ctrCfg := filepath.Join(s.dir, "ctr.json")
	if err := writeJSONFile(ctrCfg, map[string]any{
		"metadata": map[string]any{"name": "sleep"},
		"image":    map[string]any{"image": "busybox:latest"},
		"command":  []string{"sh", "-c", "trap exit TERM; sleep 3600 & wait"},
		"log_path": "sleep.log",
	}); err != nil {
		return err
	}
	for i := 0; i <= runs; i++ {
		uid := randomHex(8)
		podCfg := filepath.Join(s.dir, "pod.json")
		if err := writeJSONFile(podCfg, map[string]any{
			"metadata":      map[string]any{"name": "crictl-" + uid, "namespace": "crictl-bench", "uid": uid},
			"hostname":      "crictl-bench",
			"log_directory": filepath.Join(s.dir, "crictl-logs", uid),
		}); err != nil {
			return err
		}
		t0 := time.Now()
		pod, err := s.crictl(ctx, "runp", podCfg)
		var t1, t2, t3 time.Time
		if err == nil {
			t1 = time.Now()
			var ctr string
			if ctr, err = s.crictl(ctx, "create", pod, ctrCfg, podCfg); err == nil {
				t2 = time.Now()
				_, err = s.crictl(ctx, "start", ctr)
				t3 = time.Now()
			}
		}
		if pod != "" {
			if _, rerr := s.crictl(ctx, "stopp", pod); rerr != nil {
				return rerr
			}
			if _, rerr := s.crictl(ctx, "rmp", pod); rerr != nil {
				return rerr
			}
		}
		if err != nil {
			// A failed round is counted and run again (containerd's shim
			// start has failed here under load); three failures end it.
			res.crictlFailed++
			fmt.Fprintf(os.Stderr, "bench-kube: %s: crictl round failed (run again): %v\n", s.rt, err)
			if res.crictlFailed >= 3 {
				return err
			}
			i--
			continue
		}
		if i > 0 {
			rps, crs, sts, alls = append(rps, t1.Sub(t0)), append(crs, t2.Sub(t1)), append(sts, t3.Sub(t2)), append(alls, t3.Sub(t0))
		}
	}
	res.runp, res.create, res.start, res.crictlAll = medianOf(rps), medianOf(crs), medianOf(sts), medianOf(alls)
	return nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startContainerd runs a private Debian containerd (its own root, state and
// socket under the session's dir; not the one dockerd uses) whose CRI plugin
// reads the CNI configs of the daemon's cluster, as tests/cluster does.
func (s *kubeSession) startContainerd(cniConfDir string) (string, error) {
	config, sock, err := testutil.WriteContainerdConfig(s.dir, cniConfDir)
	if err != nil {
		return "", err
	}
	w := filepath.Dir(config)
	logf, err := os.Create(filepath.Join(w, "containerd.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command("containerd", "--config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	s.ctrd = cmd
	go cmd.Wait()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return "unix://" + sock, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.New("containerd did not start")
}

// stopContainerd stops the private containerd and its shims by PID.
func (s *kubeSession) stopContainerd() {
	if s.ctrd == nil {
		return
	}
	pid := s.ctrd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	// Shims outlive containerd; they carry its socket in their arguments.
	for _, p := range testutil.ProcsWithArg("", filepath.Join(s.dir, "containerd", "containerd.sock")) {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

// loadAvg is the host's 1-minute load average (the machine is shared).
func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// up runs `berth cluster up`. One cluster at a time fits on a host
// (kube-proxy's nft table has a fixed name), and other work on a shared
// machine may hold it: up waits for it to be free, up to 30 minutes.
func (s *kubeSession) up(ctx context.Context, args []string) error {
	deadline := time.Now().Add(30 * time.Minute)
	said := false
	for {
		if exec.Command("nft", "list", "table", "ip", "kube-proxy").Run() == nil {
			if time.Now().After(deadline) {
				return errors.New("another cluster has held the host's kube-proxy table for 30 minutes")
			}
			if !said {
				fmt.Fprintln(os.Stderr, "bench-kube: another cluster runs on this host (nft table ip kube-proxy); waiting for it to go")
				said = true
			}
			time.Sleep(5 * time.Second)
			continue
		}
		_, err := s.cmd(ctx, nil, s.berth, args...)
		if err != nil && strings.Contains(err.Error(), "another cluster's kube-proxy owns it") && time.Now().Before(deadline) {
			continue // it came up between the look and ours
		}
		return err
	}
}

// cniConf is the cluster's CNI network config, kept to be written back
// after `cluster down` removed it.
type cniConf struct {
	path   string
	raw    map[string]any
	bridge string
}

// clusterCNIConfig reads the network config `cluster up` wrote in the
// runtime's CNI directory (both runtimes read the daemon's).
func (s *kubeSession) clusterCNIConfig() (*cniConf, error) {
	files, _ := filepath.Glob(filepath.Join(s.d.Root, "cni", "net.d", "*.conflist"))
	if len(files) != 1 {
		return nil, fmt.Errorf("want one CNI config of the cluster, found %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	c := &cniConf{path: files[0]}
	if err := json.Unmarshal(b, &c.raw); err != nil {
		return nil, err
	}
	plugins, _ := c.raw["plugins"].([]any)
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "bridge" {
			c.bridge, _ = m["bridge"].(string)
		}
	}
	if c.bridge == "" {
		return nil, fmt.Errorf("%s: no bridge plugin", files[0])
	}
	return c, nil
}

// install writes the config back with its IPAM state in ipamDir; undo
// removes the file, the bridge the plugin makes and the IPAM state.
func (c *cniConf) install(ipamDir string) (func(), error) {
	for _, p := range c.raw["plugins"].([]any) {
		if m, ok := p.(map[string]any); ok && m["type"] == "bridge" {
			if ipam, ok := m["ipam"].(map[string]any); ok {
				ipam["dataDir"] = ipamDir
			}
		}
	}
	b, err := json.MarshalIndent(c.raw, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.path, b, 0o644); err != nil {
		return nil, err
	}
	return func() {
		os.Remove(c.path)
		if l, err := netlink.LinkByName(c.bridge); err == nil {
			netlink.LinkDel(l)
		}
		os.RemoveAll(ipamDir)
	}, nil
}
