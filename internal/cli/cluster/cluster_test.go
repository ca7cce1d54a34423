package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/client"
)

const kubeconfig = `{"apiVersion":"v1","kind":"Config",
"clusters":[{"name":"berth","cluster":{"server":"https://127.0.0.1:16400"}}],
"users":[{"name":"berth","user":{"client-key-data":"Sw=="}}],
"contexts":[{"name":"berth","context":{"cluster":"berth","user":"berth"}}],"current-context":"berth"}`

// fakeDaemon answers the /berth/cluster endpoints the way berthd does
// (internal/api/routes_cluster.go): progress lines, then an error line when
// failUp is set.
func fakeDaemon(t *testing.T, failUp bool) (*client.Client, *bool) {
	t.Helper()
	up := false
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Api-Version", "1.50") })
	mux.HandleFunc("/v1.50/berth/cluster/up", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"started etcd"}`+"\r\n")
		if failUp {
			fmt.Fprint(w, `{"errorDetail":{"message":"kube-apiserver exited"},"error":"kube-apiserver exited"}`+"\r\n")
			return
		}
		up = true
		fmt.Fprint(w, `{"status":"node vm Ready after 4.2 s"}`+"\r\n")
	})
	mux.HandleFunc("/v1.50/berth/cluster/down", func(w http.ResponseWriter, _ *http.Request) {
		up = false
		fmt.Fprint(w, `{"status":"cluster removed in 3.0 s"}`+"\r\n")
	})
	mux.HandleFunc("/v1.50/berth/cluster/kubeconfig", func(w http.ResponseWriter, _ *http.Request) {
		if !up {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"no cluster: run `+"`berth cluster up`"+` first"}`)
			return
		}
		fmt.Fprint(w, kubeconfig)
	})
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c, &up
}

func TestUpMergesAndDownRemovesTheContext(t *testing.T) {
	home := t.TempDir()
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", home)
	c, _ := fakeDaemon(t, false)
	var out bytes.Buffer
	if err := Up(context.Background(), c, UpOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "started etcd\nnode vm Ready after 4.2 s\n") || !strings.Contains(out.String(), `context "berth"`) {
		t.Fatalf("up printed:\n%s", out.String())
	}
	b, err := os.ReadFile(filepath.Join(home, ".kube", "config"))
	if err != nil || !strings.Contains(string(b), "https://127.0.0.1:16400") || !strings.Contains(string(b), "current-context: berth") {
		t.Fatalf("kubeconfig: %v\n%s", err, b)
	}
	out.Reset()
	if err := Down(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(home, ".kube", "config"))
	if strings.Contains(string(b), "16400") {
		t.Fatalf("context left after down:\n%s", b)
	}
	// down again: no cluster, nothing to take out.
	if err := Down(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
}

func TestFailedUpReportsTheErrorAndMergesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	c, _ := fakeDaemon(t, true)
	var out bytes.Buffer
	err := Up(context.Background(), c, UpOptions{}, &out)
	if err == nil || err.Error() != "kube-apiserver exited" {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".kube", "config")); err == nil {
		t.Fatal("a failed up wrote the kubeconfig")
	}
	if _, err := Kubeconfig(context.Background(), c); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Fatalf("kubeconfig without a cluster: %v", err)
	}
}
