package distribution

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// loginTimeout bounds a login against an unreachable registry.
const loginTimeout = 15 * time.Second

// Login checks username and password against the registry at server
// (host[:port], or a URL) the way `docker login` needs: a GET /v2/ through
// the registry's own auth flow (basic or bearer token). Nothing is stored:
// the client keeps the credentials.
func Login(ctx context.Context, server, username, password string) error {
	return defaultRegistries().Login(ctx, server, username, password)
}

// Login is Login with the daemon's insecure-registries and timeouts.
func (r *Registries) Login(ctx context.Context, server, username, password string) error {
	r = registriesOr(r)
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	host, _, _ = strings.Cut(host, "/")
	if host == "" || host == "index.docker.io" || host == "docker.io" {
		host = name.DefaultRegistry
	}
	var opts []name.Option
	scheme := "https"
	base := r.secure
	if r.isInsecure(host) {
		opts, scheme, base = append(opts, name.Insecure), "http", r.insecure
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return errdefs.Invalidf("invalid registry address %q: %v", server, err)
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(scheme, host, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(scheme, host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errdefs.Unauthorized(fmt.Errorf("login attempt to %s://%s/v2/ failed with status: %d %s",
			scheme, host, resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	return nil
}

func loginError(scheme, host string, err error) error {
	if te, ok := err.(*transport.Error); ok && te.StatusCode == http.StatusUnauthorized {
		return errdefs.Unauthorized(fmt.Errorf("login attempt to %s://%s/v2/ failed with status: 401 Unauthorized", scheme, host))
	}
	if strings.Contains(err.Error(), "401") || strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		return errdefs.Unauthorized(fmt.Errorf("login attempt to %s://%s/v2/ failed with status: 401 Unauthorized", scheme, host))
	}
	return errdefs.Unavailable(fmt.Errorf("Get \"%s://%s/v2/\": %w", scheme, host, err))
}
