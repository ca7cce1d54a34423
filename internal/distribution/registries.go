package distribution

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

// Docker's defaults for the transfer limits.
const (
	defaultMaxDownloads = 3
	defaultMaxUploads   = 5
)

// Timeouts that bound how long an unreachable registry can hold a pull,
// push or login. The first request to a registry (GET /v2/ and the token
// exchange) gets pingTimeout as a whole; later requests, which may move
// large blobs, are only bounded per step by the transport.
const (
	defaultPingTimeout = 15 * time.Second
	dialTimeout        = 10 * time.Second
	tlsTimeout         = 10 * time.Second
	headerTimeout      = 60 * time.Second
)

// RegistryConfig is the daemon.json side of registry access.
type RegistryConfig struct {
	// Mirrors (registry-mirrors) are http(s)://host[:port] URLs tried, in
	// order, before the origin when pulling from any registry; the
	// repository path stays the same (docker.io/library/busybox is
	// library/busybox on the mirror). dockerd only mirrors Docker Hub.
	Mirrors []string
	// Insecure (insecure-registries) lists CIDRs and host[:port] names
	// reached over plain HTTP or HTTPS without certificate checks.
	// 127.0.0.0/8 and ::1/128 are always in the list.
	Insecure     []string
	MaxDownloads int // max-concurrent-downloads; 0 means 3
	MaxUploads   int // max-concurrent-uploads; 0 means 5
	// StateDir keeps which registry blob holds each layer, so a later push
	// can skip or mount it. Empty: nothing is remembered.
	StateDir string
	// PingTimeout bounds the first exchange with a registry; 0 means 15s.
	PingTimeout time.Duration
}

// Registries is the parsed configuration plus the HTTP transports every
// pull and push shares. It is safe for concurrent use.
type Registries struct {
	mirrors     []*url.URL
	cidrs       []netip.Prefix
	hosts       map[string]bool // insecure host[:port] entries
	downloads   int
	uploads     int
	downSlots   slots // shared by every pull
	upSlots     slots // shared by every push
	pingTimeout time.Duration
	secure      http.RoundTripper
	insecure    http.RoundTripper // skips certificate verification
	blobs       *blobInfo
}

// NewRegistries validates cfg the way dockerd does at startup.
func NewRegistries(cfg RegistryConfig) (*Registries, error) {
	r := &Registries{hosts: map[string]bool{}, downloads: cfg.MaxDownloads, uploads: cfg.MaxUploads,
		pingTimeout: cfg.PingTimeout,
		cidrs:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	if r.downloads < 0 {
		return nil, errdefs.Invalidf("invalid max concurrent downloads: %d", r.downloads)
	}
	if r.uploads < 0 {
		return nil, errdefs.Invalidf("invalid max concurrent uploads: %d", r.uploads)
	}
	if r.downloads <= 0 {
		r.downloads = defaultMaxDownloads
	}
	if r.uploads <= 0 {
		r.uploads = defaultMaxUploads
	}
	if r.pingTimeout <= 0 {
		r.pingTimeout = defaultPingTimeout
	}
	for _, m := range cfg.Mirrors {
		u, err := parseMirror(m)
		if err != nil {
			return nil, err
		}
		r.mirrors = append(r.mirrors, u)
	}
	for _, s := range cfg.Insecure {
		if err := r.addInsecure(s); err != nil {
			return nil, err
		}
	}
	r.downSlots, r.upSlots = newSlots(r.downloads), newSlots(r.uploads)
	r.secure, r.insecure = newTransport(false), newTransport(true)
	if cfg.StateDir != "" {
		r.blobs = &blobInfo{dir: filepath.Join(cfg.StateDir, "blobs-by-diffid")}
	}
	return r, nil
}

// defaultRegistries is what callers without a daemon config get.
func defaultRegistries() *Registries {
	r, _ := NewRegistries(RegistryConfig{})
	return r
}

// registriesOr is r, or the defaults when the caller has no configuration.
func registriesOr(r *Registries) *Registries {
	if r == nil {
		return defaultRegistries()
	}
	return r
}

// parseMirror accepts what dockerd accepts, minus a path: the repository
// path is appended to the mirror's host as is.
func parseMirror(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errdefs.Invalidf("invalid mirror: %q is not a valid URI", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errdefs.Invalidf("invalid mirror: unsupported scheme %q in %q", u.Scheme, s)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errdefs.Invalidf("invalid mirror: query or fragment at end of the URI %q", s)
	case u.User != nil:
		return nil, errdefs.Invalidf("invalid mirror: username/password not allowed in URI %q", s)
	case u.Host == "":
		return nil, errdefs.Invalidf("invalid mirror: %q is not a valid URI", s)
	case strings.Trim(u.Path, "/") != "":
		return nil, errdefs.Invalidf("invalid mirror: path not supported in %q", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, nil
}

func (r *Registries) addInsecure(s string) error {
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "http://"):
		s = s[len("http://"):]
	case strings.HasPrefix(lower, "https://"):
		s = s[len("https://"):]
	case strings.Contains(s, "://"):
		return errdefs.Invalidf("insecure registry %s should not contain '://'", s)
	}
	s = strings.TrimSuffix(s, "/")
	if p, err := netip.ParsePrefix(s); err == nil {
		r.cidrs = append(r.cidrs, p.Masked())
		return nil
	}
	if s == "" || strings.ContainsAny(s, "/ ") {
		return errdefs.Invalidf("insecure registry %s is not valid", s)
	}
	if h, port, err := net.SplitHostPort(s); err == nil && (h == "" || port == "") {
		return errdefs.Invalidf("insecure registry %s is not valid", s)
	}
	r.hosts[s] = true
	return nil
}

// isInsecure reports whether host[:port] may be reached over plain HTTP or
// with an unverified certificate: a listed name, or an IP literal (or
// localhost) in a listed CIDR. Unlike dockerd, names are not resolved.
func (r *Registries) isInsecure(host string) bool {
	if r.hosts[host] {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if r.hosts[h] {
		return true
	}
	if h == "localhost" {
		h = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return false
	}
	for _, p := range r.cidrs {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// ServiceConfig is /info's RegistryConfig.
func (r *Registries) ServiceConfig() *registry.ServiceConfig {
	r = registriesOr(r)
	sc := &registry.ServiceConfig{InsecureRegistryCIDRs: append([]netip.Prefix(nil), r.cidrs...),
		IndexConfigs: map[string]*registry.IndexInfo{}, Mirrors: []string{}}
	for _, m := range r.mirrors {
		sc.Mirrors = append(sc.Mirrors, m.String())
	}
	for h := range r.hosts {
		sc.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: []string{}}
	}
	sc.IndexConfigs["docker.io"] = &registry.IndexInfo{Name: "docker.io", Mirrors: sc.Mirrors, Secure: true, Official: true}
	return sc
}

// newTransport is http.DefaultTransport with every step bounded, so a
// registry that accepts connections and never answers cannot hang a pull.
func newTransport(skipVerify bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = tlsTimeout
	t.ResponseHeaderTimeout = headerTimeout
	t.MaxIdleConnsPerHost = 16 // parallel layer transfers to one registry
	if skipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // insecure-registries asks for it
	}
	return t
}

// repository names named's repository on its own registry.
func (r *Registries) repository(named reference.Named) (name.Repository, error) {
	var o []name.Option
	if r.isInsecure(reference.Domain(named)) {
		o = append(o, name.Insecure)
	}
	repo, err := name.NewRepository(named.Name(), o...)
	if err != nil {
		return name.Repository{}, errdefs.Invalid(err)
	}
	return repo, nil
}

// mirrorRepository names named's repository on mirror m.
func (r *Registries) mirrorRepository(m *url.URL, named reference.Named) (name.Repository, error) {
	var o []name.Option
	if m.Scheme == "http" || r.isInsecure(m.Host) {
		o = append(o, name.Insecure)
	}
	return name.NewRepository(m.Host+"/"+reference.Path(named), o...)
}

// authTransport pings reg and sets up its auth flow (basic or bearer for
// scopes). The exchange must finish within the ping timeout.
func (r *Registries) authTransport(ctx context.Context, reg name.Registry, auth authn.Authenticator, scopes ...string) (http.RoundTripper, error) {
	base := r.secure
	if r.isInsecure(reg.RegistryStr()) {
		base = r.insecure
	}
	pctx, cancel := context.WithTimeout(ctx, r.pingTimeout)
	defer cancel()
	rt, err := transport.NewWithContext(pctx, reg, auth, base, scopes)
	if err == nil {
		return rt, nil
	}
	if ctx.Err() == nil && (pctx.Err() != nil || isTimeout(err)) {
		// dockerd's words for the same case (its client timeout).
		return nil, errdefs.Unavailable(fmt.Errorf("Get \"%s://%s/v2/\": net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
			reg.Scheme(), reg.RegistryStr()))
	}
	return nil, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
