package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/moby/moby/api/types/registry"
	"github.com/spf13/cobra"
)

// dockerHubServer is the key docker writes Docker Hub credentials under.
const dockerHubServer = "https://index.docker.io/v1/"

// configPath is docker's client config: $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, shared with the docker CLI.
func configPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// loadConfig reads the config as a generic map so keys berth does not know
// (credsStore, proxies, ...) survive a rewrite.
func loadConfig() (map[string]any, error) {
	cfg := map[string]any{}
	b, err := os.ReadFile(configPath())
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
		return nil, fmt.Errorf("%s: %w", configPath(), err)
	}
	return cfg, nil
}

func saveConfig(cfg map[string]any) error {
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(configPath()), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(configPath(), b, 0o600)
}

func auths(cfg map[string]any) map[string]any {
	a, _ := cfg["auths"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		cfg["auths"] = a
	}
	return a
}

// registryOf names the registry an image reference lives on, as the
// config keys it.
func registryOf(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") && first != "docker.io" {
		return first
	}
	return dockerHubServer
}

// registryAuthHeader is the X-Registry-Auth value for ref from the stored
// credentials ("" when there are none).
func registryAuthHeader(ref string) string {
	cfg, err := loadConfig()
	if err != nil {
		return ""
	}
	server := registryOf(ref)
	c, err := getCreds(cfg, server)
	if err != nil || c == (creds{}) {
		return ""
	}
	b, _ := json.Marshal(registry.AuthConfig{Username: c.user, Password: c.pass, IdentityToken: c.token, ServerAddress: server})
	return base64.URLEncoding.EncodeToString(b)
}

func newLoginCmd(a *app) *cobra.Command {
	var user, pass string
	var passStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = args[0]
			}
			if passStdin {
				b, err := io.ReadAll(bufio.NewReader(a.In))
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" || pass == "" {
				return errors.New("Error: Cannot perform an interactive login from a non TTY device")
			}
			return a.login(cmd.Context(), server, user, pass)
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&pass, "password", "p", "", "Password or Personal Access Token (PAT)")
	cmd.Flags().BoolVar(&passStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

func (a *app) login(ctx context.Context, server, user, pass string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var resp registry.AuthResponse
	if err := c.Post(ctx, "/auth", nil, registry.AuthConfig{Username: user, Password: pass, ServerAddress: server}, &resp); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if err := storeCreds(cfg, server, creds{user: user, pass: pass, token: resp.IdentityToken}); err != nil {
		return err
	}
	if err := saveConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintln(a.Out, resp.Status)
	return nil
}

func newLogoutCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = args[0]
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if _, ok := auths(cfg)[server]; !ok {
				fmt.Fprintf(a.Out, "Not logged in to %s\n", server)
				return nil
			}
			fmt.Fprintf(a.Out, "Removing login credentials for %s\n", server)
			if err := eraseCreds(cfg, server); err != nil {
				fmt.Fprintf(a.Err, "WARNING: could not erase credentials: %s: %v\n", server, err)
			}
			return saveConfig(cfg)
		},
	}
}
