package images

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/version"
	"github.com/moby/moby/api/types/registry"
)

const (
	defaultSearchLimit = 25 // dockerd's when the client sends none
	hubIndexName       = "docker.io"
	hubSearchEndpoint  = "https://index.docker.io/v1/"
	// searchTimeout bounds a search against a registry that does not answer.
	searchTimeout = 30 * time.Second
)

// ImageSearch serves GET /images/search: the registry named in term (Docker
// Hub otherwise) is asked through its v1 search API, as dockerd does;
// registries without one answer 404, reported as dockerd reports it
// ("Unexpected status code 404"). Filters is-official, is-automated and
// stars apply to the results.
func (b *Backend) ImageSearch(ctx context.Context, term string, limit int, f filters.Args, auth string) ([]registry.SearchResult, error) {
	match, err := searchFilter(f)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = defaultSearchLimit
	}
	if limit < 1 || limit > 100 {
		return nil, errdefs.Invalidf("limit %d is outside the range of [1, 100]", limit)
	}
	if strings.Contains(term, "://") {
		return nil, errdefs.Invalidf("invalid repository name: repository name (%s) should not have a scheme", term)
	}
	index, remote := splitSearchTerm(term)
	if strings.HasPrefix(index, "-") || strings.HasSuffix(index, "-") {
		return nil, errdefs.Invalidf("invalid index name (%s). Cannot begin or end with a hyphen.", index)
	}
	ctx, cancel := context.WithTimeout(ctx, searchTimeout)
	defer cancel()
	insecure := b.insecureRegistry(index)
	sc := &searchClient{http: &http.Client{}, userAgent: "berth/" + version.Version}
	if insecure {
		// As dockerd: an insecure registry's certificate is not checked.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // insecure-registries asks for it
		sc.http.Transport = t
	}
	if a, err := distribution.DecodeAuth(auth); err == nil {
		if cfg, err := a.Authorization(); err == nil && cfg.Username != "" {
			sc.user, sc.password = cfg.Username, cfg.Password
		}
	}
	var endpoint string
	if index == hubIndexName {
		endpoint = hubSearchEndpoint
		remote = strings.TrimPrefix(remote, "library/")
	} else if endpoint, err = sc.endpoint(ctx, index, insecure); err != nil {
		return nil, err
	}
	res, err := sc.search(ctx, endpoint, remote, limit)
	if err != nil {
		return nil, err
	}
	out := []registry.SearchResult{}
	for _, r := range res.Results {
		if match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// searchFilter validates f and returns the predicate it stands for.
func searchFilter(f filters.Args) (func(registry.SearchResult) bool, error) {
	if err := f.Validate("is-automated", "is-official", "stars"); err != nil {
		return nil, err
	}
	automated, err := f.GetBoolOrDefault("is-automated", false)
	if err != nil {
		return nil, err
	}
	official, err := f.GetBoolOrDefault("is-official", false)
	if err != nil {
		return nil, err
	}
	stars := 0
	for _, v := range f.Get("stars") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.Invalidf("invalid filter 'stars=%s'", v)
		}
		stars = max(stars, n)
	}
	return func(r registry.SearchResult) bool {
		switch {
		case f.Contains("is-automated") && r.IsAutomated != automated: //nolint:staticcheck // deprecated upstream, still filterable
			return false
		case f.Contains("is-official") && r.IsOfficial != official:
			return false
		case f.Contains("stars") && r.StarCount < stars:
			return false
		}
		return true
	}, nil
}

// splitSearchTerm splits "host:port/name" into index and remote name;
// a first part without '.' or ':' (and not localhost) is a Docker Hub name.
func splitSearchTerm(term string) (index, remote string) {
	first, rest, ok := strings.Cut(term, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return hubIndexName, term
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		first = hubIndexName
	}
	return first, rest
}

// insecureRegistry reports whether index (host[:port]) is insecure: on
// 127.0.0.0/8 or ::1 (or localhost) as Docker has it by default, or listed
// in daemon.json's insecure-registries (a name, or a CIDR holding the IP
// literal; names are not resolved).
func (b *Backend) insecureRegistry(index string) bool {
	h, _, err := net.SplitHostPort(index)
	if err != nil {
		h = index
	}
	if h == "localhost" {
		return true
	}
	ip, ipErr := netip.ParseAddr(strings.Trim(h, "[]"))
	if ipErr == nil && ip.Unmap().IsLoopback() {
		return true
	}
	sc := b.registries.ServiceConfig()
	for _, name := range []string{index, h} {
		if ic, ok := sc.IndexConfigs[name]; ok {
			return !ic.Secure
		}
	}
	if ipErr != nil {
		return false
	}
	for _, p := range sc.InsecureRegistryCIDRs {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// searchClient talks to a registry's v1 API.
type searchClient struct {
	http           *http.Client
	userAgent      string
	user, password string
}

// endpoint returns index's v1 base URL: https, or for an insecure registry
// plain http when https does not answer, as dockerd's v1 endpoint does.
func (c *searchClient) endpoint(ctx context.Context, index string, insecure bool) (string, error) {
	base := "https://" + index + "/v1/"
	err := c.ping(ctx, base)
	if err == nil {
		return base, nil
	}
	if !insecure {
		return "", errdefs.Invalidf("invalid registry endpoint %s: %v. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry %s` to the daemon's arguments", base, err, index)
	}
	plain := "http://" + index + "/v1/"
	err2 := c.ping(ctx, plain)
	if err2 == nil {
		return plain, nil
	}
	return "", errdefs.Invalidf("invalid registry endpoint %q. HTTPS attempt: %v. HTTP attempt: %v", plain, err, err2)
}

// ping checks that something speaks HTTP at base; like dockerd it accepts
// any status, since registries without the v1 API answer 404.
func (c *searchClient) ping(ctx context.Context, base string) error {
	resp, err := c.get(ctx, base+"_ping")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return nil
}

func (c *searchClient) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-Docker-Token", "true")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("Get %q: %w", u, err)
	}
	return resp, nil
}

// search runs GET <endpoint>search?q=term&n=limit.
func (c *searchClient) search(ctx context.Context, endpoint, term string, limit int) (*registry.SearchResults, error) {
	u := endpoint + "search?q=" + url.QueryEscape(term) + "&n=" + strconv.Itoa(limit)
	resp, err := c.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Unexpected status code %d", resp.StatusCode)
	}
	var res registry.SearchResults
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res); err != nil {
		return nil, fmt.Errorf("error decoding registry search results: %w", err)
	}
	return &res, nil
}
