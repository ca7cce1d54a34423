package integration

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// TestSwarmManagerJoin: a second berthd is a worker with the worker token
// (the manager endpoints answer 503 there, and its credential is its
// node's certificate, which may read no Secret), is promoted to a manager
// and demoted again from the leader, leaves, then joins with the manager
// token after a rotation made the old one fail. As a manager, node ls on
// both daemons shows the leader and the second manager (Reachable), info
// says Is Manager, a service created on the second daemon is seen from the
// first; its credential is a token of its own service account (0600),
// which may not touch RBAC; leave without --force answers as dockerd;
// leave --force revokes the token and leaves nothing on the host.
func TestSwarmManagerJoin(t *testing.T) {
	if testutil.KubeBinDir() == "" {
		t.Skip("Kubernetes binaries not built: run make kube")
	}
	testutil.KubeLock(t)
	ctx := context.Background()
	d1, dr1, d2, dr2, managerToken, addr := twoSwarmDaemons(ctx, t, "manager")
	workerToken := dr1.Run(ctx, nil, "swarm", "join-token", "-q", "worker").Out()
	node1 := clusterStatus(t, d1).Node
	kubeconfig2 := filepath.Join(d2.Root, "swarm", "kubeconfig")
	api := "https://" + addr

	// A worker: the manager endpoints answer dockerd's 503.
	join := func(token, want string) {
		t.Helper()
		jctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if r := runLong(jctx, dr2, "swarm", "join", "--token", token, addr); r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Fatalf("swarm join: %s\n%s", r, d2.LogTail(30))
		}
	}
	join(workerToken, "This node joined a swarm as a worker.")
	node2 := clusterStatus(t, d2).Node
	notManager := "Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state."
	for _, args := range [][]string{{"service", "ls"}, {"node", "ls"}, {"service", "create", "-d", "--name", "x", "friendlyhello"}} {
		if r := dr2.Run(ctx, nil, args...); r.Code != 1 || !strings.HasPrefix(r.Stderr, notManager) {
			t.Errorf("%v on the worker: %s", args, r)
		}
	}
	// The worker's credential is its node's certificate: no Secret, no RBAC.
	if b, err := os.ReadFile(kubeconfig2); err != nil || strings.Contains(string(b), "token") || !strings.Contains(string(b), "client-certificate") {
		t.Errorf("the worker's kubeconfig: %v\n%s", err, b)
	}
	bootstrap := strings.Join(strings.Split(workerToken, "-")[3:], ".")
	if code := apiStatus(t, api, bootstrap, "/api/v1/namespaces/kube-system/secrets"); code != http.StatusForbidden {
		t.Errorf("the worker token lists kube-system's secrets: %d", code)
	}
	// Nor does the worker token make itself a manager's account.
	sa := `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"swarm-manager-intruder"}}`
	if code := apiCall(t, api, bootstrap, http.MethodPost, "/api/v1/namespaces/berth-swarm/serviceaccounts", sa); code != http.StatusForbidden {
		t.Errorf("the worker token creates a service account in berth-swarm: %d", code)
	}
	if code := apiCall(t, api, bootstrap, http.MethodPost, "/api/v1/namespaces/berth-swarm/serviceaccounts/default/token", `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}`); code != http.StatusForbidden {
		t.Errorf("the worker token asks for a service account token in berth-swarm: %d", code)
	}

	// Promoted from the leader, then demoted again.
	waitControl := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			r := dr2.Run(ctx, nil, "info", "--format", "{{.Swarm.ControlAvailable}}")
			if r.Out() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ControlAvailable on node 2: %s, want %s\n%s", r, want, d2.LogTail(20))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if r := dr1.Run(ctx, nil, "node", "promote", node2); r.Code != 0 || r.Out() != "Node "+node2+" promoted to a manager in the swarm." {
		t.Fatalf("node promote: %s", r)
	}
	waitControl("true")
	// The token the leader left for the node (NodeRestriction refuses a
	// kubelet's credential a token of its own asking) is taken and gone.
	secretGone := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out, err := exec.CommandContext(ctx, filepath.Join(testutil.KubeBinDir(), "kubectl"), "--kubeconfig", filepath.Join(d1.Root, "cluster", "kubeconfig", "admin.kubeconfig"),
			"get", "secret", "-n", "berth-swarm", "swarm-manager-"+node2, "--ignore-not-found", "-o", "name").CombinedOutput()
		if err == nil && len(strings.TrimSpace(string(out))) == 0 {
			secretGone = true
			break
		}
	}
	if !secretGone {
		t.Errorf("the promoted node's token Secret berth-swarm/swarm-manager-%s is still there", node2)
	}
	if r := dr2.Run(ctx, nil, "node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"); r.Code != 0 || !strings.Contains(r.Stdout, node2+" Reachable") || !strings.Contains(r.Stdout, node1+" Leader") {
		t.Errorf("node ls on the promoted node: %s", r)
	}
	if r := dr1.Run(ctx, nil, "node", "demote", node1); r.Code != 1 || !strings.Contains(r.Stderr, "is the swarm's leader") {
		t.Errorf("node demote of the leader: %s", r)
	}
	if r := dr1.Run(ctx, nil, "node", "demote", node2); r.Code != 0 || r.Out() != "Manager "+node2+" demoted in the swarm." {
		t.Fatalf("node demote: %s", r)
	}
	waitControl("false")
	if r := dr2.Run(ctx, nil, "service", "ls"); r.Code != 1 || !strings.HasPrefix(r.Stderr, notManager) {
		t.Errorf("service ls on the demoted node: %s", r)
	}
	if b, _ := os.ReadFile(kubeconfig2); strings.Contains(string(b), "token") {
		t.Errorf("the demoted node kept a manager token:\n%s", b)
	}
	if r := runLong(ctx, dr2, "swarm", "leave"); r.Code != 0 {
		t.Fatalf("swarm leave of the worker: %s", r)
	}
	waitDown(t, dr1, node2)
	if r := dr1.Run(ctx, nil, "node", "rm", node2); r.Code != 0 {
		t.Fatalf("node rm: %s", r)
	}

	// A rotated manager token is refused, and nothing changes.
	newToken := dr1.Run(ctx, nil, "swarm", "join-token", "--rotate", "-q", "manager").Out()
	if !strings.HasPrefix(newToken, "SWMTKN-1-") || newToken == managerToken {
		t.Fatalf("join-token --rotate manager: %q", newToken)
	}
	if r := runLong(ctx, dr2, "swarm", "join", "--token", managerToken, addr); r.Code != 1 || !strings.Contains(r.Stderr, "invalid join token: the swarm does not accept it") {
		t.Errorf("join with the rotated manager token: %s", r)
	}
	if _, err := os.Stat(filepath.Join(d2.Root, "cluster")); !os.IsNotExist(err) {
		t.Errorf("a refused join left %s: %v", filepath.Join(d2.Root, "cluster"), err)
	}

	// A manager by its token.
	join(newToken, "This node joined a swarm as a manager.")
	for i, dr := range []testutil.Driver{dr1, dr2} {
		r := dr.Run(ctx, nil, "node", "ls", "--format", "{{.Self}} {{.Hostname}} {{.Status}} {{.ManagerStatus}}")
		self1, self2 := i == 0, i == 1
		want := []string{fmtBool(self1) + " " + node1 + " Ready Leader", fmtBool(self2) + " " + node2 + " Ready Reachable"}
		for _, w := range want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("node ls on daemon %d: want %q in\n%s", i+1, w, r)
			}
		}
	}
	if r := dr2.Run(ctx, nil, "info"); !strings.Contains(r.Stdout, "Is Manager: true") || !strings.Contains(r.Stdout, "Managers: 2") {
		t.Errorf("info on the second manager: %s", r)
	}
	if r := dr2.Run(ctx, nil, "service", "create", "-d", "--name", "web", "--replicas", "2", "friendlyhello"); r.Code != 0 {
		t.Fatalf("service create on the second manager: %s", r)
	}
	waitTasks(t, dr1, "web", 2)
	if r := dr1.Run(ctx, nil, "service", "ls", "--format", "{{.Name}} {{.Replicas}}"); r.Out() != "web 2/2" {
		t.Errorf("service ls on the leader: %s", r)
	}
	if r := dr2.Run(ctx, nil, "service", "ps", "-q", "web"); r.Code != 0 || len(strings.Fields(r.Stdout)) != 2 {
		t.Errorf("service ps on the second manager: %s", r)
	}
	if r := dr2.Run(ctx, nil, "swarm", "join-token", "-q", "worker"); r.Out() != workerToken {
		t.Errorf("join-token worker on the second manager: %s", r)
	}
	compose := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(compose, []byte("services:\n  hello:\n    image: friendlyhello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := dr2.Run(ctx, nil, "stack", "deploy", "-d", "-c", compose, "st"); r.Code != 0 {
		t.Errorf("stack deploy on the second manager: %s", r)
	}
	waitTasks(t, dr1, "st_hello", 1)
	if r := dr2.Run(ctx, nil, "stack", "rm", "st"); r.Code != 0 || !strings.Contains(r.Stdout, "Removing service st_hello") {
		t.Errorf("stack rm on the second manager: %s", r)
	}
	// Its credential: a service account token, 0600, that may not touch RBAC.
	fi, err := os.Stat(kubeconfig2)
	b, _ := os.ReadFile(kubeconfig2)
	tm := regexp.MustCompile(`"token": "([^"]+)"`).FindSubmatch(b)
	if err != nil || fi.Mode().Perm() != 0o600 || tm == nil {
		t.Fatalf("the manager's kubeconfig: %v %v\n%s", err, fi.Mode(), b)
	}
	saToken := string(tm[1])
	if code := apiStatus(t, api, saToken, "/apis/rbac.authorization.k8s.io/v1/clusterroles"); code != http.StatusForbidden {
		t.Errorf("the manager's token lists cluster roles: %d", code)
	}
	if code := apiStatus(t, api, saToken, "/api/v1/nodes"); code != http.StatusOK {
		t.Errorf("the manager's token lists nodes: %d", code)
	}

	// Leave: dockerd's refusal without --force, then nothing left.
	if r := dr2.Run(ctx, nil, "swarm", "leave"); r.Code != 1 || r.Stderr != "Error response from daemon: You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves 1 managers out of 2. Without a Raft quorum your swarm will be inaccessible. The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.\n" {
		t.Errorf("swarm leave on the second manager: %s", r)
	}
	if r := runLong(ctx, dr2, "swarm", "leave", "--force"); r.Code != 0 || !strings.Contains(r.Stdout, "Node left the swarm.") {
		t.Fatalf("swarm leave --force: %s", r)
	}
	if code := apiStatus(t, api, saToken, "/api/v1/nodes"); code != http.StatusUnauthorized {
		t.Errorf("the manager's token after leave: %d", code)
	}
	waitNoFrontEnd(t, d2)
	for _, p := range []string{filepath.Join(d2.Root, "cluster"), kubeconfig2, filepath.Join(d2.Root, "swarm", "state.json")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	if pids := testutil.ProcsWithArg("", filepath.Join(d2.Root, "cluster")); len(pids) > 0 {
		t.Errorf("processes of the second node left: %v", pids)
	}
	if r := dr2.Run(ctx, nil, "ps", "-aq"); r.Out() != "" {
		t.Errorf("containers left on the second node: %s", r.Out())
	}
	waitDown(t, dr1, node2)
	if r := dr1.Run(ctx, nil, "node", "rm", node2); r.Code != 0 {
		t.Fatalf("node rm of the manager that left: %s", r)
	}
	waitTasks(t, dr1, "web", 2)
}

func fmtBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// waitDown waits until node shows Down in dr's node ls.
func waitDown(t *testing.T, dr testutil.Driver, node string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := dr.Run(context.Background(), nil, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		if strings.Contains(r.Stdout, node+" Down") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not Down: %s", node, r)
		}
		time.Sleep(time.Second)
	}
}

// apiStatus is the status of a GET on the apiserver with a bearer token
// (the server's certificate is not checked: the test asks the loopback
// address the join token pinned).
func apiStatus(t *testing.T, api, token, path string) int {
	t.Helper()
	return apiCall(t, api, token, http.MethodGet, path, "")
}

// apiCall is the status of a request with a JSON body.
func apiCall(t *testing.T, api, token, method, path, body string) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
