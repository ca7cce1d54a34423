package dockerconfig

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// tokenUsername is the user name a helper stores an identity token under.
const tokenUsername = "<token>"

// Creds are one registry's stored credentials: a user and password, or
// an identity token.
type Creds struct {
	User, Pass, Token string
}

// credHelper names the docker-credential-<name> program that keeps
// server's credentials, as docker decides: credHelpers[server], else
// credsStore, else none (the "auth" field of config.json).
func credHelper(cfg Config, server string) string {
	if m, ok := cfg["credHelpers"].(map[string]any); ok {
		if h, ok := m[server].(string); ok && h != "" {
			return h
		}
	}
	h, _ := cfg["credsStore"].(string)
	return h
}

func helperProgram(name string) client.ProgramFunc {
	return client.NewShellProgramFunc("docker-credential-" + name)
}

// Creds returns server's stored credentials; none is not an error.
func (cfg Config) Creds(server string) (Creds, error) {
	if h := credHelper(cfg, server); h != "" {
		c, err := client.Get(helperProgram(h), server)
		if err != nil {
			if credentials.IsErrCredentialsNotFound(err) {
				return Creds{}, nil
			}
			return Creds{}, fmt.Errorf("error getting credentials - err: %w", err)
		}
		if c.Username == tokenUsername {
			return Creds{Token: c.Secret}, nil
		}
		return Creds{User: c.Username, Pass: c.Secret}, nil
	}
	entry, _ := cfg.Auths()[server].(map[string]any)
	var out Creds
	if enc, _ := entry["auth"].(string); enc != "" {
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return Creds{}, fmt.Errorf("invalid auth configuration file: %w", err)
		}
		out.User, out.Pass, _ = strings.Cut(string(raw), ":")
	}
	out.Token, _ = entry["identitytoken"].(string)
	return out, nil
}

// StoreCreds keeps c for server in its helper, leaving an empty "auths"
// entry as docker does (logout and `docker info` look there), or in
// config.json itself. The caller saves cfg.
func (cfg Config) StoreCreds(server string, c Creds) error {
	if c.Token != "" {
		c.Pass = "" // the registry's identity token replaces the password
	}
	h := credHelper(cfg, server)
	if h == "" {
		entry := map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Pass))}
		if c.Token != "" {
			entry["identitytoken"] = c.Token
		}
		cfg.Auths()[server] = entry
		return nil
	}
	hc := &credentials.Credentials{ServerURL: server, Username: c.User, Secret: c.Pass}
	if c.Token != "" {
		hc.Username, hc.Secret = tokenUsername, c.Token
	}
	if err := client.Store(helperProgram(h), hc); err != nil {
		return fmt.Errorf("error saving credentials: %w", err)
	}
	cfg.Auths()[server] = map[string]any{}
	return nil
}

// EraseCreds removes server's credentials from its helper and config.json.
// The caller saves cfg.
func (cfg Config) EraseCreds(server string) error {
	if h := credHelper(cfg, server); h != "" {
		if err := client.Erase(helperProgram(h), server); err != nil && !credentials.IsErrCredentialsNotFound(err) {
			return fmt.Errorf("error erasing credentials: %w", err)
		}
	}
	delete(cfg.Auths(), server)
	return nil
}
