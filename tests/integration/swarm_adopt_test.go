package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwarmAdoptCluster: a berthd whose daemon.json names a kubeconfig
// ("swarm-kubeconfig") adopts that cluster on `docker swarm init` instead
// of bringing up its own. Daemon A runs `berth cluster up`; daemon B,
// given A's admin kubeconfig, inits a swarm and creates a service with the
// real docker CLI: its tasks run on A's node (A's containers), B's
// `service ls/ps` and `node ls` show them; B's `swarm leave --force`
// removes every object B made (workloads, the swarm namespace, the join
// tokens) and leaves A's cluster up and its node Ready.
func TestSwarmAdoptCluster(t *testing.T) {
	dA, drA, berthA, kubectlA := kubeSwarmDaemon(t)
	ctx := context.Background()
	importBusybox(t, drA)
	upCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if r := runLong(upCtx, berthA, "cluster", "up"); r.Code != 0 {
		t.Fatalf("cluster up on A: %s\n%s", r, dA.LogTail(30))
	}
	t.Cleanup(func() {
		if r := runLong(context.Background(), berthA, "cluster", "down"); r.Code != 0 {
			t.Errorf("cluster down on A: %s", r)
		}
	})
	nodeA := clusterStatus(t, dA).Node
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	r := berthA.Run(ctx, nil, "cluster", "kubeconfig")
	if r.Code != 0 || nodeA == "" {
		t.Fatalf("A's kubeconfig (node %q): %s", nodeA, r)
	}
	os.WriteFile(kubeconfig, []byte(r.Stdout), 0o600)

	dB, drB := swarmDaemon(t, "--swarm-kubeconfig", kubeconfig)
	if r := runLong(upCtx, drB, "swarm", "init"); r.Code != 0 || !strings.Contains(r.Stdout, "Swarm initialized: current node ("+nodeA+") is now a manager.") {
		t.Fatalf("swarm init on B: %s", r)
	}
	if st := clusterStatus(t, dB).State; st != "down" {
		t.Errorf("B brought up a cluster of its own: state %v", st)
	}
	if r := drB.Run(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"); r.Out() != nodeA+" Ready Leader" {
		t.Errorf("node ls on B: %s", r)
	}
	if r := drB.Run(ctx, nil, "service", "create", "-d", "--name", "adopted", "--replicas", "2", "busybox", "sleep", "600"); r.Code != 0 {
		t.Fatalf("service create on B: %s", r)
	}
	waitTasks(t, drB, "adopted", 2)
	if r := drB.Run(ctx, nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}}", "adopted"); sortedLines(r.Stdout) != "adopted.1 "+nodeA+"\nadopted.2 "+nodeA {
		t.Errorf("service ps on B: %s", r)
	}
	if r := drB.Run(ctx, nil, "service", "ls", "--format", "{{.Name}} {{.Replicas}}"); r.Out() != "adopted 2/2" {
		t.Errorf("service ls on B: %s", r)
	}
	// The tasks are A's containers, under A's kubelet; B runs none.
	pods := checkServiceObjects(t, kubectlA, "", "adopted", 2, 0)
	for _, p := range pods {
		if p.Spec.NodeName != nodeA {
			t.Errorf("pod %s on node %q, want A's %s", p.Metadata.Name, p.Spec.NodeName, nodeA)
		}
	}
	taskFilter := []string{"ps", "-q", "--filter", "label=io.kubernetes.pod.namespace=default", "--filter", "label=io.kubernetes.container.name=task"}
	if n := len(strings.Fields(drA.Run(ctx, nil, taskFilter...).Stdout)); n != 2 {
		t.Errorf("%d task containers on A, want 2", n)
	}
	if r := drB.Run(ctx, nil, "ps", "-aq"); r.Out() != "" {
		t.Errorf("containers on B: %s", r)
	}

	// B leaves: what B made goes, A's cluster stays.
	if r := runLong(ctx, drB, "swarm", "leave", "--force"); r.Code != 0 || r.Out() != "Node left the swarm." {
		t.Fatalf("swarm leave on B: %s", r)
	}
	if r := drB.Run(ctx, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); r.Out() != "inactive" {
		t.Errorf("info on B after leave: %s", r)
	}
	waitNoFrontEnd(t, dB)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := []string{}
		for _, q := range [][]string{
			{"get", "deploy,svc,secret,configmap", "-n", "default", "-l", "berth.swarm/managed=true", "-o", "name"},
			{"get", "secret", "-n", "kube-system", "-l", "berth.swarm/managed=true", "-o", "name"},
			{"get", "namespace", "-l", "berth.swarm/managed=true", "-o", "name"},
			{"get", "pods", "-n", "default", "-o", "name"},
		} {
			r := kubectlA.Run(ctx, nil, q...)
			if r.Code != 0 {
				t.Fatalf("kubectl %v on A: %s", q, r)
			}
			left = append(left, strings.Fields(r.Stdout)...)
		}
		if len(left) == 0 && drA.Run(ctx, nil, taskFilter...).Out() == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left in A's cluster after B's leave: %v", left)
		}
		time.Sleep(time.Second)
	}
	if st := clusterStatus(t, dA).State; st != "running" {
		t.Errorf("A's cluster after B's leave: state %v", st)
	}
	if r := kubectlA.Run(ctx, nil, "get", "node", nodeA, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`); r.Out() != "True" {
		t.Errorf("A's node after B's leave: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dB.Root, "swarm", "state.json")); !os.IsNotExist(err) {
		t.Errorf("B's swarm state left: %v", err)
	}
}
