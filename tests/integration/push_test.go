package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/crypto/bcrypt"
)

func needDaemon(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("no daemon")
	}
}

// ggcrRegistry serves go-containerregistry's in-process registry on loopback.
func ggcrRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(func() {
		// Close waits for requests in flight; a daemon's stuck upload must
		// fail the test, not hang it.
		srv.CloseClientConnections()
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// tagged tags busybox as ref and removes at cleanup every name of ref's
// repository: the tag and the repo digests pushes and pulls recorded.
func (c *tcase) tagged(ref string) string {
	c.Helper()
	repo := ref[:strings.LastIndex(ref, ":")]
	c.Cleanup(func() {
		ctx := context.Background()
		names := []string{ref}
		for _, n := range strings.Fields(c.dr.Run(ctx, nil, "image", "inspect", "-f", `{{join .RepoTags " "}} {{join .RepoDigests " "}}`, "busybox:latest").Stdout) {
			if strings.HasPrefix(n, repo+":") || strings.HasPrefix(n, repo+"@") {
				names = append(names, n)
			}
		}
		c.dr.Run(ctx, nil, append([]string{"rmi", "-f"}, names...)...)
	})
	c.ok("tag", "busybox:latest", ref)
	return ref
}

// Push to berth-registry and to ggcr's registry through both CLIs: push,
// push again (layers exist), push -a, rmi, pull, run.
func TestPushAndPullBack(t *testing.T) {
	needDaemon(t)
	hosts := map[string]string{"berth-registry": startBerthRegistry(t), "ggcr": ggcrRegistry(t)}
	var table []scenario
	for kind, host := range hosts {
		table = append(table, scenario{kind, func(c *tcase) { pushScenario(c, host) }})
	}
	forEachDriver(t, table)
}

func pushScenario(c *tcase, host string) {
	repo := host + "/push/" + c.dr.Name + "-" + randHex(3)
	v1, v2 := c.tagged(repo+":v1"), c.tagged(repo+":v2")
	out := c.ok("push", v1)
	c.wantContains(out, "The push refers to repository ["+repo+"]", "push header")
	c.wantContains(out, ": Preparing", "push layer")
	if !strings.Contains(out, ": Pushed") && !strings.Contains(out, ": Mounted from ") && !strings.Contains(out, ": Layer already exists") {
		c.Errorf("no layer result in:\n%s", out)
	}
	c.wantContains(out, "v1: digest: sha256:", "push digest")
	c.wantContains(c.ok("push", v1), ": Layer already exists", "second push")
	digest := c.ok("image", "inspect", "-f", "{{range .RepoDigests}}{{.}}{{end}}", v1)
	if !strings.HasPrefix(digest, repo+"@sha256:") {
		c.Errorf("RepoDigests after push = %q", digest)
	}

	out = c.ok("push", "--all-tags", repo)
	c.wantContains(out, "v1: digest: sha256:", "push -a v1")
	c.wantContains(out, "v2: digest: sha256:", "push -a v2")
	c.wantEq(c.ok("push", "-q", v2), v2, "push -q")

	c.ok("rmi", v1, v2)
	out = c.ok("pull", v1)
	c.wantContains(out, "Status: Downloaded newer image for "+v1, "pull back")
	c.wantEq(c.ok("run", "--rm", v1, "echo", "round-trip"), "round-trip", "run pulled image")
	c.ok("rmi", v1)
	out = c.ok("pull", "-a", repo)
	c.wantContains(out, "v1: Pulling from push/", "pull -a v1")
	c.wantContains(out, "v2: Pulling from push/", "pull -a v2")
	c.wantContains(c.ok("images", "--format", "{{.Tag}}", repo), "v2", "pull -a tags")
}

// Bad input: nothing to push, a missing tag, a tag with -a. Runs against
// dockerd too: its check for the repository comes before any registry is
// contacted.
func TestPushBadInput(t *testing.T) {
	forEachDriver(t, []scenario{
		{"missing-repo", func(c *tcase) {
			r := c.code(1, "push", "127.0.0.1:1/nope/none:v1")
			c.wantContains(r.Stderr, "An image does not exist locally with the tag: 127.0.0.1:1/nope/none", "missing image")
		}},
		{"missing-tag", func(c *tcase) {
			if env.daemon.Target == testutil.TargetDockerd {
				c.Skip("dockerd contacts the registry before it looks for the tag; berthd checks locally first")
			}
			ref := c.tagged("127.0.0.1:1/exists/" + c.dr.Name + ":v1")
			r := c.code(1, "push", strings.TrimSuffix(ref, ":v1")+":v9")
			c.wantContains(r.Stderr, "tag does not exist: "+strings.TrimSuffix(ref, ":v1")+":v9", "missing tag")
		}},
		{"all-tags-with-tag", func(c *tcase) {
			r := c.code(1, "push", "-a", "127.0.0.1:1/nope/none:v1")
			c.wantContains(r.Stderr, "tag can't be used with --all-tags/-a", "push -a with tag")
			r = c.code(1, "pull", "-a", "127.0.0.1:1/nope/none:v1")
			c.wantContains(r.Stderr, "tag can't be used with --all-tags/-a", "pull -a with tag")
		}},
	})
}

// htpasswd registry: a push without login or with a wrong password fails;
// after login it works, and pull and run use the same credentials.
func TestPushWithLogin(t *testing.T) {
	needDaemon(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600)
	host := startBerthRegistry(t, "--htpasswd", htpasswd)
	for _, dr := range testutil.Drivers(env.daemon, t.TempDir()) {
		t.Run(dr.Name, func(t *testing.T) {
			cfgDir := t.TempDir()
			dr.Env = append(append([]string{}, dr.Env...), "DOCKER_CONFIG="+cfgDir)
			c := newCase(t, dr)
			ref := c.tagged(host + "/private/" + dr.Name + ":v1")
			r := c.code(1, "push", ref)
			c.wantContains(r.Stderr, "no basic auth credentials", "anonymous push")
			// Stale credentials in config.json (login would not store wrong ones).
			bad := base64.StdEncoding.EncodeToString([]byte("alice:wrong"))
			os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+bad+`"}}}`), 0o600)
			r = c.code(1, "push", ref)
			c.wantContains(r.Stderr, "unauthorized: authentication required", "push with a wrong password")
			c.code(1, "login", host, "-u", "alice", "-p", "wrong")
			c.wantContains(c.ok("login", host, "-u", "alice", "-p", "s3cret"), "Login Succeeded", "login")
			c.wantContains(c.ok("push", ref), "v1: digest: sha256:", "push after login")
			c.ok("rmi", ref)
			c.wantEq(c.ok("run", "--rm", ref, "echo", "private"), "private", "run pulls with credentials")
			c.ok("logout", host)
			c.ok("rmi", ref)
			c.code(1, "pull", ref)
		})
	}
}

// credsStore: the CLI keeps the password in docker-credential-<name>, not
// in config.json, and push/pull read it from there.
func TestPushWithCredentialHelper(t *testing.T) {
	needDaemon(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("bob:"+string(hash)+"\n"), 0o600)
	host := startBerthRegistry(t, "--htpasswd", htpasswd)
	for _, dr := range testutil.Drivers(env.daemon, t.TempDir()) {
		t.Run(dr.Name, func(t *testing.T) {
			binDir, cfgDir, vault := t.TempDir(), t.TempDir(), t.TempDir()
			writeCredHelper(t, binDir, vault)
			os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"credsStore":"berthtest"}`), 0o600)
			dr.Env = append(append([]string{}, dr.Env...), "DOCKER_CONFIG="+cfgDir,
				"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			c := newCase(t, dr)
			ref := c.tagged(host + "/helper/" + dr.Name + ":v1")
			c.wantContains(c.ok("login", host, "-u", "bob", "-p", "s3cret"), "Login Succeeded", "login")
			cfg, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
			if strings.Contains(string(cfg), `"auth"`) || !strings.Contains(string(cfg), host) {
				c.Errorf("config.json with a credsStore: %s", cfg)
			}
			if b, _ := os.ReadFile(filepath.Join(vault, "creds.json")); !strings.Contains(string(b), "s3cret") {
				c.Errorf("helper did not store the password: %q", b)
			}
			c.wantContains(c.ok("push", ref), "v1: digest: sha256:", "push via helper")
			c.ok("rmi", ref)
			c.ok("pull", ref)
			c.ok("logout", host)
			if _, err := os.Stat(filepath.Join(vault, "creds.json")); !os.IsNotExist(err) {
				c.Errorf("logout left the helper's credentials: %v", err)
			}
			calls, _ := os.ReadFile(filepath.Join(vault, "calls"))
			for _, want := range []string{"store", "get", "erase"} {
				c.wantContains(string(calls), want, "helper calls")
			}
		})
	}
}

// writeCredHelper installs docker-credential-berthtest, which keeps one
// credential in vault/creds.json and logs each call to vault/calls.
func writeCredHelper(t *testing.T, binDir, vault string) {
	t.Helper()
	script := fmt.Sprintf(`#!/bin/sh
v=%q
echo "$1" >> "$v/calls"
case "$1" in
store) cat > "$v/creds.json" ;;
get) read url; if [ -f "$v/creds.json" ]; then cat "$v/creds.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) read url; rm -f "$v/creds.json" ;;
list) echo "{}" ;;
esac
`, vault)
	if err := os.WriteFile(filepath.Join(binDir, "docker-credential-berthtest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A registry that accepts TCP and never answers fails a push and a pull
// with a clear message in bounded time.
func TestPushUnreachableRegistry(t *testing.T) {
	needDaemon(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, conn := range conns {
			conn.Close()
		}
	})
	host := l.Addr().String()
	drs := env.drivers
	c := newCase(t, drs[0])
	ref := c.tagged(host + "/hang/x:v1")
	for i, args := range [][]string{{"push", ref}, {"pull", host + "/hang/y:v1"}} {
		dr := drs[i%len(drs)]
		start := time.Now()
		r := dr.Run(c.ctx, nil, args...)
		// dockerd says "Client.Timeout exceeded while awaiting headers" or
		// "context deadline exceeded"; both name the registry's URL.
		if r.Code == 0 || !strings.Contains(r.Stderr, `Get "http://`+host+`/v2/": `) {
			t.Errorf("%s %v: %s", dr.Name, args, r)
		}
		if d := time.Since(start); d > 40*time.Second {
			t.Errorf("%s %v took %s", dr.Name, args, d)
		}
	}
}
