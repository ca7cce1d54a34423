package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// docker login against berth-registry with htpasswd: a wrong password is
// refused and stores nothing; the right one is stored by the CLI and then
// carried by pull as X-Registry-Auth.
func TestLoginAndAuthenticatedPull(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("the harness's dockerd would need this registry in its insecure list")
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
			loginScenario(t, dr, cfgDir, host)
		})
	}
}

func loginScenario(t *testing.T, dr testutil.Driver, cfgDir, host string) {
	ctx := context.Background()
	ref := host + "/demo/bb:v1"
	t.Cleanup(func() { dr.Run(ctx, nil, "rmi", "-f", ref) })

	r := dr.Run(ctx, nil, "pull", ref)
	if r.Code == 0 {
		t.Fatalf("anonymous pull from an htpasswd registry must fail: %s", r)
	}
	r = dr.Run(ctx, nil, "login", host, "-u", "alice", "-p", "wrong")
	if r.Code == 0 || !strings.Contains(r.Stderr, "401") {
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
