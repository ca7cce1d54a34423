// Package registry embeds distribution/distribution's registry application
// (filesystem storage, htpasswd and token auth, TLS, delete, garbage
// collection, pull-through cache) behind berth-registry's own HTTP server, so
// the daemon never links the registry code.
package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/distribution/v3/configuration"

	// Drivers and access controllers register themselves by name; config
	// files refer to them by that name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Realm is the basic-auth realm announced when --htpasswd is used.
const Realm = "berth-registry"

// DefaultAddr is where the registry listens when no address is given.
const DefaultAddr = "127.0.0.1:5000"

// Options are the command-line settings for the common case; anything more
// elaborate goes through a distribution config file.
type Options struct {
	Addr        string // host:port to listen on
	Root        string // filesystem storage root
	Htpasswd    string // bcrypt htpasswd file; empty disables auth
	TLSCert     string // PEM certificate; with TLSKey enables TLS
	TLSKey      string
	ProxyRemote string // upstream URL: pull-through cache mode
	ProxyUser   string // optional upstream credentials
	ProxyPass   string
	LogLevel    string // error, warn, info, debug
}

// Config turns the flag settings into a distribution configuration,
// equivalent to what a YAML file with the same settings would give.
func (o Options) Config() (*configuration.Configuration, error) {
	if o.Root == "" {
		return nil, errdefs.Invalidf("a storage root is required (--root DIR)")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errdefs.Invalidf("--tls-cert and --tls-key must be given together")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, fmt.Errorf("storage root: %w", err)
	}
	cfg := &configuration.Configuration{}
	cfg.Version = configuration.MajorMinorVersion(0, 1)
	cfg.Log.Level = configuration.Loglevel(orDefault(o.LogLevel, "info"))
	cfg.Log.Formatter = "text"
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": root},
		// Delete is on so clients (and the conformance suite's content
		// management workflow) can remove manifests and blobs.
		"delete": configuration.Parameters{"enabled": true},
		"cache":  configuration.Parameters{"blobdescriptor": "inmemory"},
	}
	// Foreign (non-distributable) layers name where clients fetch them; the
	// registry never fetches them itself, so any http(s) URL is accepted, as
	// Docker Hub does. distribution's default with no list refuses them all.
	cfg.Validation.Manifests.URLs.Allow = []string{`^https?://`}
	cfg.HTTP.Addr = orDefault(o.Addr, DefaultAddr)
	cfg.HTTP.Net = "tcp"
	cfg.HTTP.DrainTimeout = 10 * time.Second
	cfg.HTTP.TLS.Certificate = o.TLSCert
	cfg.HTTP.TLS.Key = o.TLSKey
	if o.Htpasswd != "" {
		if _, err := os.Stat(o.Htpasswd); err != nil {
			return nil, errdefs.Invalidf("htpasswd file: %w", err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": Realm, "path": o.Htpasswd,
		}}
	}
	cfg.Proxy.RemoteURL = o.ProxyRemote
	cfg.Proxy.Username = o.ProxyUser
	cfg.Proxy.Password = o.ProxyPass
	applyDefaults(cfg)
	return cfg, nil
}

// LoadConfig parses a distribution configuration file; REGISTRY_* variables
// override its fields as they do for distribution's own binary.
func LoadConfig(path string) (*configuration.Configuration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	defer f.Close()
	cfg, err := configuration.Parse(f)
	if err != nil {
		return nil, errdefs.Invalidf("configuration %s: %w", path, err)
	}
	applyDefaults(cfg)
	return cfg, nil
}

// applyDefaults fills what distribution's parser would have defaulted, so
// flag-built and file-built configurations behave the same.
func applyDefaults(cfg *configuration.Configuration) {
	if cfg.Catalog.MaxEntries <= 0 {
		cfg.Catalog.MaxEntries = 1000
	}
	if cfg.Tags.MaxTags <= 0 {
		cfg.Tags.MaxTags = 1000
	}
	if cfg.HTTP.Addr == "" {
		cfg.HTTP.Addr = DefaultAddr
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
