package integration

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/network/hostfw"
	"github.com/berth-project/berth/tests/testutil"
)

// clusterStatus reads a daemon's cluster status (GET /berth/cluster).
func clusterStatus(t *testing.T, d *testutil.Daemon) *client.ClusterStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSwarmTwoNodes: a second berthd on this host joins the first one's
// swarm with the worker token `docker swarm join-token` prints (after a bad
// token and a wrong CA were refused without changing anything); node ls
// shows both nodes; a service of 4 replicas runs on both; a task on the
// first node reaches a task on the second; draining the worker moves its
// tasks to the first node; the worker's `swarm leave` stops
// its kubelet and leaves nothing of its node on the host (processes,
// containers, cgroups, bridge, iptables rules, state); its node shows Down
// and `node rm` removes it, and the service's tasks all run on the first
// node again.
func TestSwarmTwoNodes(t *testing.T) {
	if testutil.KubeBinDir() == "" {
		t.Skip("Kubernetes binaries not built: run make kube")
	}
	swarmBerthdOnly(t)
	testutil.KubeLock(t)
	ctx := context.Background()
	d1, dr1, d2, dr2, token, addr := twoSwarmDaemons(ctx, t, "worker")
	managerToken := dr1.Run(ctx, nil, "swarm", "join-token", "-q", "manager").Out()
	if !strings.HasPrefix(managerToken, "SWMTKN-1-") || managerToken == token {
		t.Errorf("swarm join-token -q manager: %q", managerToken)
	}

	// Refused, and nothing changes on the second node: a token that is not
	// one, an unknown bootstrap token, a CA hash that is not the manager's.
	bad := []struct{ token, want string }{
		{"SWMTKN-1-nonsense", "invalid join token"},
		{token[:len(token)-16] + "0000000000000000", "invalid join token"},
		{"SWMTKN-1-" + strings.Repeat("0", 64) + token[len(token)-24:], "invalid join token"},
	}
	for _, b := range bad {
		if r := runLong(ctx, dr2, "swarm", "join", "--token", b.token, addr); r.Code != 1 || !strings.Contains(r.Stderr, b.want) {
			t.Errorf("join with %s: %s", b.token, r)
		}
	}
	if r := runLong(ctx, dr2, "swarm", "join", "--token", token, "127.0.0.1:1"); r.Code != 1 || !strings.Contains(r.Stderr, "could not reach the manager") {
		t.Errorf("join of an unreachable manager: %s", r)
	}
	if r := dr2.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after refused joins: %s", r)
	}
	if _, err := os.Stat(filepath.Join(d2.Root, "cluster")); !os.IsNotExist(err) {
		t.Errorf("a refused join left %s: %v", filepath.Join(d2.Root, "cluster"), err)
	}

	joinCtx, cancel2 := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel2()
	if r := runLong(joinCtx, dr2, "swarm", "join", "--token", token, addr); r.Code != 0 || !strings.Contains(r.Stdout, "This node joined a swarm as a worker.") {
		t.Fatalf("swarm join: %s\n%s", r, d2.LogTail(30))
	}
	st2 := clusterStatus(t, d2)
	node2, bridge2, cgroup2 := st2.Node, st2.Bridge, st2.CgroupRoot
	if node2 == "" || bridge2 == "" || cgroup2 == "" {
		t.Fatalf("cluster status of the worker: %+v", st2)
	}
	node1 := clusterStatus(t, d1).Node
	r := dr1.Run(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}")
	lines := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	if r.Code != 0 || len(lines) != 2 || !lines[node1+" Ready Active Leader"] || !lines[node2+" Ready Active"] {
		t.Fatalf("node ls: %q", r.Stdout)
	}
	if r := dr2.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"); r.Out() != "active false" {
		t.Errorf("info on the worker: %s", r)
	}
	if r := dr2.Run(ctx, nil, "node", "ls"); r.Code != 1 || !strings.Contains(r.Stderr, "Worker nodes can't be used to view or modify cluster state") {
		t.Errorf("node ls on the worker: %s", r)
	}

	// 4 replicas over both nodes.
	if r := dr1.Run(ctx, nil, "service", "create", "-d", "--name", "web", "--replicas", "4", "friendlyhello"); r.Code != 0 {
		t.Fatalf("service create: %s", r)
	}
	waitTasks(t, dr1, "web", 4)
	r = dr1.Run(ctx, nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", "web")
	if !strings.Contains(r.Stdout, node1) || !strings.Contains(r.Stdout, node2) {
		t.Fatalf("tasks not on both nodes: %s", r)
	}

	// From a task on node 1 to a task on node 2, across the two bridges.
	taskFilter := []string{"ps", "-q", "--filter", "label=io.kubernetes.container.name=task"}
	c1 := strings.Fields(dr1.Run(ctx, nil, taskFilter...).Stdout)
	c2 := strings.Fields(dr2.Run(ctx, nil, taskFilter...).Stdout)
	if len(c1) == 0 || len(c2) == 0 {
		t.Fatalf("task containers: node 1 %v, node 2 %v", c1, c2)
	}
	ip2 := dr2.Run(ctx, nil, "exec", c2[0], "hostname", "-i").Out()
	host2 := dr2.Run(ctx, nil, "exec", c2[0], "hostname").Out()
	if net.ParseIP(ip2) == nil || host2 == "" {
		t.Fatalf("address of the task on node 2: %q %q", ip2, host2)
	}
	if r := dr1.Run(ctx, nil, "exec", c1[0], "timeout", "10", "wget", "-q", "-O-", "http://"+ip2+":80/cgi-bin/index"); r.Code != 0 || r.Out() != "Hello World from "+host2 {
		t.Fatalf("node 1 task → node 2 task %s: %s", ip2, r)
	}

	// The worker's credential is its node's (NodeRestriction): it may not
	// touch node 1 or the tasks bound there, nor make itself a manager; it
	// may change its own node and delete its own tasks' pods, which its
	// leave below does.
	nodeConfinedToItself(ctx, t, d1, filepath.Join(d2.Root, "swarm", "kubeconfig"), node1, node2)
	waitTasks(t, dr1, "web", 4)

	// Drain moves the worker's tasks to node 1; back to active, a scale-up
	// puts tasks on it again.
	onNodes := func() string {
		return dr1.Run(ctx, nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", "web").Stdout
	}
	if r := dr1.Run(ctx, nil, "node", "update", "--availability", "drain", node2); r.Code != 0 {
		t.Fatalf("node update --availability drain: %s", r)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := onNodes()
		if strings.Count(out, node1+" Running") == 4 && !strings.Contains(out, node2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drain did not move the tasks to %s:\n%s", node1, out)
		}
		time.Sleep(time.Second)
	}
	if r := dr1.Run(ctx, nil, "node", "inspect", "-f", "{{.Spec.Availability}}", node2); r.Out() != "drain" {
		t.Errorf("availability after drain: %s", r)
	}
	if r := dr1.Run(ctx, nil, "node", "update", "--availability", "active", node2); r.Code != 0 {
		t.Fatalf("node update --availability active: %s", r)
	}
	if r := dr1.Run(ctx, nil, "service", "scale", "-d", "web=6"); r.Code != 0 {
		t.Fatalf("service scale: %s", r)
	}
	waitTasks(t, dr1, "web", 6)

	// The worker leaves: its tasks go back to node 1, nothing of it stays.
	if r := runLong(ctx, dr2, "swarm", "leave"); r.Code != 0 || !strings.Contains(r.Stdout, "Node left the swarm.") {
		t.Fatalf("swarm leave on the worker: %s", r)
	}
	if r := dr2.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info after leave: %s", r)
	}
	waitNoFrontEnd(t, d2)
	if pids := testutil.ProcsWithArg("", filepath.Join(d2.Root, "cluster")); len(pids) > 0 {
		t.Errorf("processes of the worker's node left: %v", pids)
	}
	if r := dr2.Run(ctx, nil, "ps", "-aq"); r.Out() != "" {
		t.Errorf("containers left on the worker: %s", r.Out())
	}
	if _, err := net.InterfaceByName(bridge2); err == nil {
		t.Errorf("bridge %s left", bridge2)
	}
	for _, h := range []string{"memory", "cpu", "pids", "unified"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, cgroup2)); !os.IsNotExist(err) {
			t.Errorf("cgroup %s/%s left: %v", h, cgroup2, err)
		}
	}
	// The worker's daemon keeps its own chain while it runs; its node's
	// rules name the node's bridge.
	if left, err := hostfw.RulesMentioning(ctx, bridge2); err != nil || len(left) > 0 {
		t.Errorf("iptables rules of the worker's node left: %v %v", left, err)
	}
	// The manager's kube-proxy (the one this host has) is untouched.
	if out, err := exec.Command("nft", "list", "table", "ip", "kube-proxy").CombinedOutput(); err != nil {
		t.Errorf("the cluster's kube-proxy table went with the worker: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(d2.Root, "cluster")); !os.IsNotExist(err) {
		t.Errorf("cluster state of the worker left: %v", err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		r := dr1.Run(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		if strings.Contains(r.Stdout, node2+" Down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker is not Down after leave: %s", r)
		}
		time.Sleep(time.Second)
	}
	if r := dr1.Run(ctx, nil, "node", "rm", node2); r.Code != 0 {
		t.Fatalf("node rm: %s", r)
	}
	if r := dr1.Run(ctx, nil, "node", "ls", "-q"); r.Out() != node1 {
		t.Errorf("node ls after node rm: %s", r)
	}
	waitTasks(t, dr1, "web", 6)
	if r := dr1.Run(ctx, nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", "web"); strings.Count(r.Stdout, node1) != 6 {
		t.Errorf("tasks after the worker left: %s", r)
	}
}

// nodeConfinedToItself checks, with kubectl and a node's kubeconfig
// (self's kubelet certificate), that the apiserver refuses that node every
// change of the other node and of the pods bound to it (403), and the
// labels that make a node a manager, and allows it its own node and pods.
// The Node authorizer alone would allow all of it: NodeRestriction refuses.
func nodeConfinedToItself(ctx context.Context, t *testing.T, manager *testutil.Daemon, nodeKubeconfig, other, self string) {
	t.Helper()
	kubectl := filepath.Join(testutil.KubeBinDir(), "kubectl")
	run := func(kubeconfig string, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "--request-timeout=20s"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	admin := filepath.Join(manager.Root, "cluster", "kubeconfig", "admin.kubeconfig")
	asNode := func(args ...string) (string, error) { return run(nodeKubeconfig, args...) }
	if out, err := asNode("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "system:node:"+self {
		t.Fatalf("the worker's credential is %q (%v)", out, err)
	}
	pods := func(node string) []string {
		out, err := run(admin, "get", "pods", "-n", "default", "--field-selector", "spec.nodeName="+node+",status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			t.Fatalf("pods on %s: %v %s", node, err, out)
		}
		return strings.Fields(out)
	}
	onOther, onSelf := pods(other), pods(self)
	if len(onOther) == 0 || len(onSelf) == 0 {
		t.Fatalf("tasks on %s %v, on %s %v", other, onOther, self, onSelf)
	}
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"label", "node", other, "berth.test/x=1"}, `node "` + self + `" is not allowed to modify node "` + other + `"`},
		{[]string{"patch", "node", other, "-p", `{"spec":{"unschedulable":true}}`}, `is not allowed to modify node`},
		{[]string{"delete", "pod", "-n", "default", onOther[0], "--wait=false"}, `can only delete pods with spec.nodeName set to itself`},
		{[]string{"label", "node", self, "node-role.kubernetes.io/control-plane="}, `is not allowed to modify labels: node-role.kubernetes.io/control-plane`},
	}
	for _, r := range refused {
		out, err := asNode(r.args...)
		if err == nil || !strings.Contains(strings.ToLower(out), "forbidden") || !strings.Contains(out, r.want) {
			t.Errorf("as the worker's node, kubectl %s: %v\n%s\nwant Forbidden: %s", strings.Join(r.args, " "), err, out, r.want)
		}
	}
	if out, _ := run(admin, "get", "node", other, "-o", "jsonpath={.spec.unschedulable} {.metadata.labels.berth\\.test/x}"); strings.TrimSpace(out) != "" {
		t.Errorf("node %s changed by the worker's credential: %q", other, out)
	}
	if out, _ := run(admin, "get", "pod", "-n", "default", onOther[0], "-o", "jsonpath={.metadata.deletionTimestamp}"); out != "" {
		t.Errorf("pod %s on %s deleted by the worker's credential: %q", onOther[0], other, out)
	}
	for _, args := range [][]string{
		{"label", "node", self, "berth.test/own=1"},
		{"label", "node", self, "berth.test/own-"},
		{"delete", "pod", "-n", "default", onSelf[0], "--wait=false"},
	} {
		if out, err := asNode(args...); err != nil {
			t.Errorf("as the worker's node, kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// twoSwarmDaemons starts two berthds with the tutorial's image built on
// each (no registry, as after a `docker build` on each node), runs swarm
// init on the first and returns the join token for role ("worker" or
// "manager") and the address `docker swarm join-token` prints.
func twoSwarmDaemons(ctx context.Context, t *testing.T, role string) (d1 *testutil.Daemon, dr1 testutil.Driver, d2 *testutil.Daemon, dr2 testutil.Driver, token, addr string) {
	t.Helper()
	d1, dr1 = swarmDaemon(t)
	d2, dr2 = swarmDaemon(t)
	buildFriendlyhello(t, dr1)
	buildFriendlyhello(t, dr2)
	initCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(initCtx, dr1, "swarm", "init"); r.Code != 0 {
		t.Fatalf("swarm init: %s", r)
	}
	r := dr1.Run(ctx, nil, "swarm", "join-token", role)
	m := regexp.MustCompile(`^To add a ` + role + ` to this swarm, run the following command:\n\n    docker swarm join --token (SWMTKN-1-[0-9a-f]{64}-[a-z0-9]{6}-[a-z0-9]{16}) (127\.0\.0\.1:\d+)\n\n$`).FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil {
		t.Fatalf("swarm join-token %s: %s", role, r)
	}
	return d1, dr1, d2, dr2, m[1], m[2]
}
