package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles berth-registry into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "berth-registry")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeAndSignal starts the binary with flags, checks it answers, and
// that SIGTERM makes it exit cleanly; then garbage-collects its root.
func TestServeAndSignal(t *testing.T) {
	bin := buildBinary(t)
	root, addr := t.TempDir(), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--root", root, "--log-level", "error")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Only if the test failed before its own SIGTERM.
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})

	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/v2/"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("registry never answered: %v\n%s", err, logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
		t.Fatalf("/v2/: %d %v", resp.StatusCode, resp.Header)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}

	out, err := exec.Command(bin, "garbage-collect", "--root", root, "--dry-run").CombinedOutput()
	if err != nil {
		t.Fatalf("garbage-collect: %v\n%s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(cfg, []byte("version: 0.1\nstorage: {inmemory: {}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "storage root is required"},
		{[]string{"serve", cfg, "--root", "/tmp"}, "--root cannot be combined"},
		{[]string{"serve", "--root", t.TempDir(), "--tls-cert", "c.pem"}, "--tls-cert and --tls-key"},
		{[]string{"serve", "--root", t.TempDir(), "--addr", "256.0.0.1:1"}, "listen on"},
		{[]string{"garbage-collect"}, "storage root is required"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: err=%v output %q, want %q", tc.args, err, out, tc.want)
		}
	}
}

// TestExampleConfig serves the shipped example configuration (with its
// root and address overridden the documented way, by environment).
func TestExampleConfig(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "config-example.yml")
	cmd.Env = append(os.Environ(),
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="+t.TempDir(),
		"REGISTRY_HTTP_ADDR="+addr,
		"REGISTRY_LOG_LEVEL=error")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var resp *http.Response
		if resp, err = http.Get("http://" + addr + "/v2/_catalog"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("catalog: %d", resp.StatusCode)
			}
			return
		}
	}
	t.Fatalf("registry from the example config never answered: %v\n%s", err, logs.String())
}
