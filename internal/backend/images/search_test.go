package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/registry"
)

// v1Registry answers /v1/_ping and /v1/search like Docker Hub's index and
// records the last search query and Authorization header.
func v1Registry(t *testing.T) (host string, last *http.Request) {
	t.Helper()
	last = &http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/_ping":
			w.Write([]byte("true"))
		case "/v1/search":
			*last = *r
			json.NewEncoder(w).Encode(registry.SearchResults{Query: r.URL.Query().Get("q"), Results: []registry.SearchResult{
				{Name: "demo/a", StarCount: 10},
				{Name: "demo/b", StarCount: 2, IsOfficial: true},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), last
}

func names(rs []registry.SearchResult) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func TestImageSearch(t *testing.T) {
	host, last := v1Registry(t)
	d := &Backend{}
	ctx := context.Background()
	for _, tc := range []struct {
		filter, want string
	}{
		{"", "demo/a,demo/b"},
		{"is-official=true", "demo/b"},
		{"is-official=false", "demo/a"},
		{"stars=5", "demo/a"},
	} {
		f := filters.Args{}
		if k, v, ok := strings.Cut(tc.filter, "="); ok {
			f.Add(k, v)
		}
		res, err := d.ImageSearch(ctx, host+"/demo", 0, f, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := names(res); got != tc.want {
			t.Errorf("filter %q: got %s, want %s", tc.filter, got, tc.want)
		}
	}
	if q := last.URL.Query(); q.Get("q") != "demo" || q.Get("n") != "25" {
		t.Errorf("query %v, want q=demo n=25", q)
	}
	auth, _ := json.Marshal(map[string]string{"username": "u", "password": "p"})
	if _, err := d.ImageSearch(ctx, host+"/demo", 3, filters.Args{}, base64.URLEncoding.EncodeToString(auth)); err != nil {
		t.Fatal(err)
	}
	if u, p, ok := last.BasicAuth(); !ok || u != "u" || p != "p" || last.URL.Query().Get("n") != "3" {
		t.Errorf("auth %q/%q %v, n=%s", u, p, ok, last.URL.Query().Get("n"))
	}
}

func TestImageSearchErrors(t *testing.T) {
	host, _ := v1Registry(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	d := &Backend{}
	ctx := context.Background()
	bad := filters.Args{}
	bad.Add("foo", "1")
	stars := filters.Args{}
	stars.Add("stars", "many")
	for _, tc := range []struct {
		term    string
		limit   int
		f       filters.Args
		want    string
		invalid bool
	}{
		{host + "/demo", 101, nil, "limit 101 is outside the range of [1, 100]", true},
		{host + "/demo", 0, bad, "invalid filter 'foo'", true},
		{host + "/demo", 0, stars, "invalid filter 'stars=many'", true},
		{"http://" + host + "/demo", 0, nil, "should not have a scheme", true},
		{strings.TrimPrefix(plain.URL, "http://") + "/demo", 0, nil, "Unexpected status code 404", false},
		{"127.0.0.1:1/demo", 0, nil, `invalid registry endpoint "http://127.0.0.1:1/v1/". HTTPS attempt:`, true},
	} {
		_, err := d.ImageSearch(ctx, tc.term, tc.limit, tc.f, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) || errdefs.IsInvalid(err) != tc.invalid {
			t.Errorf("%s (limit %d): err %v, want %q (invalid %v)", tc.term, tc.limit, err, tc.want, tc.invalid)
		}
	}
}

func TestSplitSearchTerm(t *testing.T) {
	for _, tc := range []struct{ term, index, remote string }{
		{"busybox", "docker.io", "busybox"},
		{"library/busybox", "docker.io", "library/busybox"},
		{"user/app", "docker.io", "user/app"},
		{"localhost/app", "localhost", "app"},
		{"127.0.0.1:5000/demo/app", "127.0.0.1:5000", "demo/app"},
		{"index.docker.io/user/app", "docker.io", "user/app"},
		{"reg.example.com/x", "reg.example.com", "x"},
	} {
		i, r := splitSearchTerm(tc.term)
		if i != tc.index || r != tc.remote {
			t.Errorf("%s: %s %s, want %s %s", tc.term, i, r, tc.index, tc.remote)
		}
	}
}

func TestInsecureRegistry(t *testing.T) {
	regs, err := distribution.NewRegistries(distribution.RegistryConfig{Insecure: []string{"reg.example:5000", "10.1.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &Backend{registries: regs}
	for _, tc := range []struct {
		index string
		want  bool
	}{
		{"127.0.0.1:5000", true},
		{"localhost:5000", true},
		{"[::1]:5000", true},
		{"reg.example:5000", true},
		{"reg.example:6000", false},
		{"10.1.2.3:5000", true},
		{"10.2.0.1", false},
		{"docker.io", false},
		{"quay.io", false},
	} {
		if got := d.insecureRegistry(tc.index); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.index, got, tc.want)
		}
	}
}
