package cli

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// tokenUsername is the user name a helper stores an identity token under.
const tokenUsername = "<token>"

// creds are one registry's stored credentials.
type creds struct {
	user, pass, token string
}

// credHelper names the docker-credential-<name> program that keeps
// server's credentials, as docker decides: credHelpers[server], else
// credsStore, else none (the "auth" field of config.json).
func credHelper(cfg map[string]any, server string) string {
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

// getCreds returns server's stored credentials; none is not an error.
func getCreds(cfg map[string]any, server string) (creds, error) {
	if h := credHelper(cfg, server); h != "" {
		c, err := client.Get(helperProgram(h), server)
		if err != nil {
			if credentials.IsErrCredentialsNotFound(err) {
				return creds{}, nil
			}
			return creds{}, fmt.Errorf("error getting credentials - err: %w", err)
		}
		if c.Username == tokenUsername {
			return creds{token: c.Secret}, nil
		}
		return creds{user: c.Username, pass: c.Secret}, nil
	}
	entry, _ := auths(cfg)[server].(map[string]any)
	var out creds
	if enc, _ := entry["auth"].(string); enc != "" {
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return creds{}, fmt.Errorf("invalid auth configuration file: %w", err)
		}
		out.user, out.pass, _ = strings.Cut(string(raw), ":")
	}
	out.token, _ = entry["identitytoken"].(string)
	return out, nil
}

// storeCreds keeps c for server in its helper, leaving an empty "auths"
// entry as docker does (logout and `docker info` look there), or in
// config.json itself. The caller saves cfg.
func storeCreds(cfg map[string]any, server string, c creds) error {
	if c.token != "" {
		c.pass = "" // the registry's identity token replaces the password
	}
	h := credHelper(cfg, server)
	if h == "" {
		entry := map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte(c.user + ":" + c.pass))}
		if c.token != "" {
			entry["identitytoken"] = c.token
		}
		auths(cfg)[server] = entry
		return nil
	}
	hc := &credentials.Credentials{ServerURL: server, Username: c.user, Secret: c.pass}
	if c.token != "" {
		hc.Username, hc.Secret = tokenUsername, c.token
	}
	if err := client.Store(helperProgram(h), hc); err != nil {
		return fmt.Errorf("error saving credentials: %w", err)
	}
	auths(cfg)[server] = map[string]any{}
	return nil
}

// eraseCreds removes server's credentials from its helper and config.json.
// The caller saves cfg.
func eraseCreds(cfg map[string]any, server string) error {
	if h := credHelper(cfg, server); h != "" {
		if err := client.Erase(helperProgram(h), server); err != nil && !credentials.IsErrCredentialsNotFound(err) {
			return fmt.Errorf("error erasing credentials: %w", err)
		}
	}
	delete(auths(cfg), server)
	return nil
}
