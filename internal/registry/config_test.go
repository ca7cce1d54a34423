package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestConfigFile serves from a distribution-format YAML file, the other way
// to start berth-registry.
func TestConfigFile(t *testing.T) {
	root := t.TempDir()
	htpasswd := writeHtpasswd(t, "carol", "pw")
	yml := `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ` + root + `
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
auth:
  htpasswd:
    realm: berth-registry
    path: ` + htpasswd + `
`
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Type() != "filesystem" || cfg.HTTP.Addr != "127.0.0.1:0" {
		t.Fatalf("parsed %q at %q", cfg.Storage.Type(), cfg.HTTP.Addr)
	}
	srv, _ := serveStoppable(t, cfg)
	img := randomImage(t, 1)
	creds := remote.WithAuth(&authn.Basic{Username: "carol", Password: "pw"})
	if err := remote.Write(ref(t, srv, "cfg/img:1"), img, creds); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref(t, srv, "cfg/img@"+digestOf(t, img).String()), creds); err != nil {
		t.Fatalf("delete with delete.enabled: %v", err)
	}
	if n := countBlobs(t, root); n == 0 {
		t.Fatal("nothing stored under the configured root")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("version: 0.1\nhttp: {addr: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(bad); !errdefs.IsInvalid(err) {
		t.Fatalf("config without storage: %v, want invalid", err)
	}
	if _, err := (Options{}).Config(); !errdefs.IsInvalid(err) {
		t.Fatalf("no root: %v, want invalid", err)
	}
	if _, err := (Options{Root: t.TempDir(), Htpasswd: "/nonexistent/htpasswd"}).Config(); !errdefs.IsInvalid(err) {
		t.Fatalf("missing htpasswd: %v, want invalid", err)
	}
	// distribution panics on configurations it cannot use; New must turn
	// that into an error.
	cfg := &configuration.Configuration{Storage: configuration.Storage{"nosuchdriver": {}}}
	if _, err := New(context.Background(), cfg); err == nil {
		t.Fatal("unknown storage driver accepted")
	}
}
