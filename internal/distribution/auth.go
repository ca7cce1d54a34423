// Package distribution pulls images from OCI/Docker registries into the
// image store and pushes them back, reporting progress as Docker's JSON
// message stream.
package distribution

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
)

// authConfig is the X-Registry-Auth payload the docker CLI sends.
type authConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// DecodeAuth turns an X-Registry-Auth header (base64url JSON) into an
// authenticator; an empty header means anonymous access.
func DecodeAuth(header string) (authn.Authenticator, error) {
	if header == "" {
		return authn.Anonymous, nil
	}
	// Clients differ on padding; accept both forms of base64url.
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "="))
	if err != nil {
		return nil, errdefs.Invalidf("invalid X-Registry-Auth header: %v", err)
	}
	var ac authConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		// Docker treats an undecodable payload as no credentials.
		return authn.Anonymous, nil //nolint:nilerr
	}
	cfg := authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
	if cfg == (authn.AuthConfig{}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(cfg), nil
}

// insecureHost reports whether host (with optional port) is insecure with
// no insecure-registries configured: loopback addresses, as Docker treats
// 127.0.0.0/8 by default.
func insecureHost(host string) bool {
	return defaultRegistries().isInsecure(host)
}
