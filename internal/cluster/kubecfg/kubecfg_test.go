package kubecfg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ours = `{"apiVersion":"v1","kind":"Config",
"clusters":[{"name":"berth","cluster":{"server":"https://127.0.0.1:6443","certificate-authority-data":"Q0E="}}],
"users":[{"name":"berth","user":{"client-certificate-data":"Qw==","client-key-data":"Sw=="}}],
"contexts":[{"name":"berth","context":{"cluster":"berth","user":"berth"}}],"current-context":"berth"}`

const theirs = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://prod:443"}
users:
- name: prod
  user: {token: abc}
contexts:
- name: prod
  context: {cluster: prod, user: prod}
current-context: prod
`

func TestMergeKeepsOtherEntriesAndRemoveTakesOnlyOurs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(theirs), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // a second up replaces, never duplicates
		if err := Merge(path, []byte(ours), "berth"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if strings.Count(s, "name: berth") != 3 || !strings.Contains(s, "name: prod") || !strings.Contains(s, "current-context: berth") {
		t.Fatalf("merged config:\n%s", s)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// Another cluster named berth (other server) is not ours to remove.
	if err := Remove(path, "berth", "https://127.0.0.1:9999"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "name: berth") {
		t.Fatal("removed a context of another server")
	}
	if err := Remove(path, "berth", Server([]byte(ours), "berth")); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	s = string(b)
	if strings.Contains(s, "berth") || !strings.Contains(s, "name: prod") || !strings.Contains(s, "token: abc") {
		t.Fatalf("after remove:\n%s", s)
	}
}

func TestPathFollowsKubeconfigThenHome(t *testing.T) {
	t.Setenv("KUBECONFIG", "/a/one:/b/two")
	if p, _ := Path(); p != "/a/one" {
		t.Fatalf("KUBECONFIG: %s", p)
	}
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", "/home/u")
	if p, _ := Path(); p != "/home/u/.kube/config" {
		t.Fatalf("HOME: %s", p)
	}
}
