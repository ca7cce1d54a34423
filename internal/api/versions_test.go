package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/client/pkg/versions"
)

// Every entry names a version inside the window where it matters (a change
// at or below 1.24 changes nothing we serve; one above 1.51 is not dockerd
// 28's), and every query parameter entry names a route the router has.
func TestVersionTableCitesHistory(t *testing.T) {
	for _, c := range versionChanges() {
		if versions.LessThanOrEqualTo(c.Version, MinAPIVersion) || versions.GreaterThan(c.Version, "1.51") {
			t.Errorf("%+v: version outside (%s, 1.51]", c, MinAPIVersion)
		}
		if c.Endpoint == "" || c.History == "" {
			t.Errorf("%+v: endpoint and history entry required", c)
		}
	}
	fb := &fakeBackend{}
	s := NewServer(Backends{System: fb, Containers: fb, Exec: fb, Images: fb}, Options{})
	rt := newRouter()
	s.registerSystem(rt)
	s.registerContainers(rt)
	s.registerContainerIO(rt)
	s.registerImages(rt)
	s.registerBuild(rt)
	rt.post("/build/prune", nil) // registered only with a build backend
	rt.post("/volumes/prune", nil)
	known := map[string]bool{}
	for _, r := range rt.routes {
		known[r.method+" "+r.pattern] = true
	}
	for _, p := range queryParams {
		if !known[p.Method+" "+p.Route] {
			t.Errorf("query parameter %s: no route %s %s", p.Param, p.Method, p.Route)
		}
	}
	for _, p := range queryRewrites {
		if !known[p.Method+" "+p.Route] {
			t.Errorf("query rewrite: no route %s %s", p.Method, p.Route)
		}
	}
}

func TestAdaptQuery(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/containers/c/stop?signal=KILL&t=3", nil)
	if err := adaptQuery("1.41", http.MethodPost, "/containers/{name}/stop", r); err != nil {
		t.Fatal(err)
	}
	if q := r.URL.Query(); q.Has("signal") || q.Get("t") != "3" {
		t.Fatalf("1.41 stop query %q", r.URL.RawQuery)
	}
	r = httptest.NewRequest(http.MethodPost, "/containers/c/stop?signal=KILL", nil)
	if err := adaptQuery("1.42", http.MethodPost, "/containers/{name}/stop", r); err != nil {
		t.Fatal(err)
	}
	if r.URL.Query().Get("signal") != "KILL" {
		t.Fatalf("1.42 stop query %q", r.URL.RawQuery)
	}
	r = httptest.NewRequest(http.MethodPost, "/volumes/prune", nil)
	if err := adaptQuery("1.41", http.MethodPost, "/volumes/prune", r); err != nil {
		t.Fatal(err)
	}
	f, _ := filters.Parse(r.URL.Query().Get("filters"))
	if !f.ExactMatch("all", "true") {
		t.Fatalf("1.41 volume prune filters %q", r.URL.RawQuery)
	}
	r = httptest.NewRequest(http.MethodGet, "/images/json?filter=busy*", nil)
	if err := adaptQuery("1.40", http.MethodGet, "/images/json", r); err != nil {
		t.Fatal(err)
	}
	if q := r.URL.Query(); q.Has("filter") || !strings.Contains(q.Get("filters"), "busy*") {
		t.Fatalf("1.40 image filter %q", r.URL.RawQuery)
	}
}
