package dockerconfig

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
)

// fakeHelper installs docker-credential-<name> on PATH; it answers get
// with user:secret for any server and records store and erase.
func fakeHelper(t *testing.T, binDir, name, user, secret string) string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\necho \"$1\" >> " + log + "\ncase \"$1\" in\n" +
		"get) read url; echo '{\"ServerURL\":\"'$url'\",\"Username\":\"" + user + "\",\"Secret\":\"" + secret + "\"}' ;;\n" +
		"store|erase) cat > /dev/null ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(binDir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return log
}

func decodeHeader(t *testing.T, h string) registry.AuthConfig {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("header %q: %v", h, err)
	}
	var ac registry.AuthConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		t.Fatal(err)
	}
	return ac
}

// credHelpers beats credsStore, which beats the config's own "auth".
func TestCredentialHelperChoice(t *testing.T) {
	binDir, cfgDir := t.TempDir(), t.TempDir()
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_CONFIG", cfgDir)
	storeLog := fakeHelper(t, binDir, "store", "from-store", "s1")
	fakeHelper(t, binDir, "special", "from-special", "s2")
	fakeHelper(t, binDir, "token", "<token>", "tok")
	plain := base64.StdEncoding.EncodeToString([]byte("from-file:s3"))
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"credsStore":"store",
		"credHelpers":{"special.example:5000":"special","tok.example":"token"},
		"auths":{"plain.example":{"auth":"`+plain+`"}}}`), 0o600)

	for ref, want := range map[string]registry.AuthConfig{
		"special.example:5000/a/b:1": {Username: "from-special", Password: "s2", ServerAddress: "special.example:5000"},
		"other.example/a/b":          {Username: "from-store", Password: "s1", ServerAddress: "other.example"},
		"tok.example/x":              {IdentityToken: "tok", ServerAddress: "tok.example"},
	} {
		if got := decodeHeader(t, AuthHeader(ref)); got != want {
			t.Errorf("%s: got %+v, want %+v", ref, got, want)
		}
	}

	// Without a credsStore the config's own entry is used.
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"plain.example":{"auth":"`+plain+`"}}}`), 0o600)
	if got := decodeHeader(t, AuthHeader("plain.example/a")); got.Username != "from-file" || got.Password != "s3" {
		t.Errorf("file store: %+v", got)
	}
	if h := AuthHeader("nobody.example/a"); h != "" {
		t.Errorf("no credentials: %q", h)
	}

	// store keeps only an empty entry in config.json; erase removes it.
	cfg := Config{"credsStore": "store"}
	if err := cfg.StoreCreds("reg.example", Creds{User: "u", Pass: "p"}); err != nil {
		t.Fatal(err)
	}
	if e, ok := cfg.Auths()["reg.example"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf("entry after store: %#v", cfg.Auths()["reg.example"])
	}
	if err := cfg.EraseCreds("reg.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Auths()["reg.example"]; ok {
		t.Error("entry left after erase")
	}
	calls, _ := os.ReadFile(storeLog)
	if !strings.Contains(string(calls), "store") || !strings.Contains(string(calls), "erase") {
		t.Errorf("helper calls: %q", calls)
	}
}

func TestRegistryConfigHeaderEmpty(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if got := AllAuthsHeader(); got != "e30=" {
		t.Errorf("no credentials: %q, want base64 of {} like docker", got)
	}
}
