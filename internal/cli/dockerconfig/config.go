// Package dockerconfig is docker's client configuration as the berth
// commands share it with the docker CLI: config.json ($DOCKER_CONFIG or
// ~/.docker), the credentials kept there or in docker-credential-*
// helpers, and the registry auth headers made from them.
package dockerconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/moby/moby/api/types/registry"
)

// DockerHubServer is the key docker writes Docker Hub credentials under.
const DockerHubServer = "https://index.docker.io/v1/"

// Config is config.json read as a generic map, so keys berth does not
// know (credsStore, proxies, ...) survive a rewrite.
type Config map[string]any

// path is $DOCKER_CONFIG/config.json or ~/.docker/config.json.
func path() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// Load reads the config; a missing or empty file is an empty Config.
func Load() (Config, error) {
	cfg := Config{}
	b, err := os.ReadFile(path())
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path(), err)
	}
	return cfg, nil
}

// Save writes cfg back, atomically and readable by its owner only.
func (cfg Config) Save() error {
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path()), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path(), b, 0o600)
}

// Auths is the config's "auths" map, made when missing.
func (cfg Config) Auths() map[string]any {
	a, _ := cfg["auths"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		cfg["auths"] = a
	}
	return a
}

// RegistryOf names the registry an image reference lives on, as the
// config keys it.
func RegistryOf(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") && first != "docker.io" {
		return first
	}
	return DockerHubServer
}

// AuthHeader is the X-Registry-Auth value for ref from the stored
// credentials ("" when there are none).
func AuthHeader(ref string) string {
	cfg, err := Load()
	if err != nil {
		return ""
	}
	server := RegistryOf(ref)
	c, err := cfg.Creds(server)
	if err != nil || c == (Creds{}) {
		return ""
	}
	b, _ := json.Marshal(registry.AuthConfig{Username: c.User, Password: c.Pass, IdentityToken: c.Token, ServerAddress: server})
	return base64.URLEncoding.EncodeToString(b)
}

// AllAuthsHeader is X-Registry-Config: every credential stored for
// docker (config.json's auths and credential helpers), keyed by registry,
// so a build's FROM can pull private images. base64 of "{}" when there
// are none.
func AllAuthsHeader() string {
	all := map[string]registry.AuthConfig{}
	if cfg, err := Load(); err == nil {
		servers := map[string]bool{}
		for s := range cfg.Auths() {
			servers[s] = true
		}
		if helpers, ok := cfg["credHelpers"].(map[string]any); ok {
			for s := range helpers {
				servers[s] = true
			}
		}
		for s := range servers {
			// A helper that fails is skipped: docker sends what it can.
			if c, err := cfg.Creds(s); err == nil && c != (Creds{}) {
				all[s] = registry.AuthConfig{Username: c.User, Password: c.Pass, IdentityToken: c.Token, ServerAddress: s}
			}
		}
	}
	b, _ := json.Marshal(all)
	return base64.URLEncoding.EncodeToString(b)
}

// ProxyBuildArgs adds the proxies of config.json ("proxies", for the
// daemon host or "default") as build args the user did not set, upper and
// lower case, as docker does.
func ProxyBuildArgs(daemonHost string, args map[string]*string) map[string]*string {
	cfg, err := Load()
	if err != nil {
		return args
	}
	proxies, _ := cfg["proxies"].(map[string]any)
	p, ok := proxies[daemonHost].(map[string]any)
	if !ok {
		p, _ = proxies["default"].(map[string]any)
	}
	for key, name := range map[string]string{"httpProxy": "HTTP_PROXY", "httpsProxy": "HTTPS_PROXY",
		"noProxy": "NO_PROXY", "ftpProxy": "FTP_PROXY", "allProxy": "ALL_PROXY"} {
		v, _ := p[key].(string)
		if v == "" {
			continue
		}
		for _, k := range []string{name, strings.ToLower(name)} {
			if _, set := args[k]; !set {
				args[k] = &v
			}
		}
	}
	return args
}
