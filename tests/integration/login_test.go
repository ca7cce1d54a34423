package integration

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// docker login against berth-registry with htpasswd: a wrong password is
// refused and stores nothing; the right one is stored by the CLI and then
// carried by pull as X-Registry-Auth.
func TestLoginAndAuthenticatedPull(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600)
	host := startBerthRegistry(t, "--htpasswd", htpasswd)
	pushImage(t, host, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))

	for _, dr := range testutil.Drivers(env.daemon, t.TempDir()) {
		t.Run(dr.Name, func(t *testing.T) {
			cfgDir := t.TempDir()
			dr.Env = append(append([]string{}, dr.Env...), "DOCKER_CONFIG="+cfgDir)
			loginScenario(t, dr, cfgDir, host, false)
		})
	}
}

func loginScenario(t *testing.T, dr testutil.Driver, cfgDir, host string, bearer bool) {
	ctx := context.Background()
	ref := host + "/demo/bb:v1"
	t.Cleanup(func() { dr.Run(ctx, nil, "rmi", "-f", ref) })

	r := dr.Run(ctx, nil, "pull", ref)
	if r.Code == 0 {
		t.Fatalf("anonymous pull from an htpasswd registry must fail: %s", r)
	}
	r = dr.Run(ctx, nil, "login", host, "-u", "alice", "-p", "wrong")
	want := "401"
	if env.daemon.Target == testutil.TargetDockerd && bearer {
		// dockerd 20.10 reports the token server's refusal without the status.
		want = `/v2/": unauthorized`
	}
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("wrong password: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json")); strings.Contains(string(b), host) {
		t.Fatalf("credentials stored after a failed login: %s", b)
	}
	r = dr.Run(ctx, nil, "login", host, "-u", "alice", "-p", "s3cret")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("login: %s", r)
	}
	if r := dr.Run(ctx, nil, "pull", ref); r.Code != 0 {
		t.Fatalf("pull with stored credentials: %s", r)
	}
	if r := dr.Run(ctx, nil, "run", "--rm", ref, "echo", "authed"); r.Out() != "authed" {
		t.Fatalf("%s", r)
	}
	if r := dr.Run(ctx, nil, "logout", host); r.Code != 0 {
		t.Fatalf("logout: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json")); strings.Contains(string(b), `"auth"`) {
		t.Fatalf("credentials left after logout: %s", b)
	}
}

// The same login → pull → run → logout against a registry that uses
// bearer tokens: the client gets a token from the realm with the user's
// password, then presents it (the Docker Hub flow).
func TestLoginAndPullWithBearerToken(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := startTokenRegistry(t, "alice", "s3cret")
	pushImage(t, host, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))
	for _, dr := range testutil.Drivers(env.daemon, t.TempDir()) {
		t.Run(dr.Name, func(t *testing.T) {
			cfgDir := t.TempDir()
			dr.Env = append(append([]string{}, dr.Env...), "DOCKER_CONFIG="+cfgDir)
			loginScenario(t, dr, cfgDir, host, true)
		})
	}
}

// startTokenRegistry serves go-containerregistry's registry behind a
// token service: /v2/ answers 401 with a Bearer challenge unless the
// request carries a token that /token issued for user:password.
func startTokenRegistry(t *testing.T, user, password string) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	issued := map[string]bool{}
	var realm string
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		tok := randHex(16)
		mu.Lock()
		issued[tok] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q,"access_token":%q,"expires_in":300}`, tok, tok)
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		valid := ok && issued[tok]
		mu.Unlock()
		if !valid {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="berth-test"`, realm))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	realm = srv.URL + "/token"
	return strings.TrimPrefix(srv.URL, "http://")
}
