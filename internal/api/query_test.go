package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestBoolValue(t *testing.T) {
	for in, want := range map[string]bool{"": false, "0": false, "1": true, "true": true, "True": true, "False": false, "false": false} {
		r := httptest.NewRequest("GET", "/x?b="+in, nil)
		got, err := boolValue(r, "b")
		if err != nil || got != want {
			t.Fatalf("boolValue(%q) = %v, %v", in, got, err)
		}
	}
	r := httptest.NewRequest("GET", "/x?b=maybe", nil)
	if _, err := boolValue(r, "b"); !errdefs.IsInvalid(err) {
		t.Fatalf("bad bool: %v", err)
	}
	if v, _ := boolDefault(httptest.NewRequest("GET", "/x", nil), "stream", true); !v {
		t.Fatal("absent stream should default to true")
	}
}

func TestTimeValue(t *testing.T) {
	cases := map[string]time.Time{
		"":                     {},
		"0":                    {},
		"1795736309":           time.Unix(1795736309, 0),
		"1795736309.5":         time.Unix(1795736309, 500000000),
		"1795736309.000000001": time.Unix(1795736309, 1),
		"2026-11-26T23:26:46Z": time.Date(2026, 11, 26, 23, 26, 46, 0, time.UTC),
	}
	for in, want := range cases {
		got, err := timeValue(httptest.NewRequest("GET", "/x?since="+in, nil), "since")
		if err != nil || !got.Equal(want) {
			t.Fatalf("timeValue(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := timeValue(httptest.NewRequest("GET", "/x?since=yesterday", nil), "since"); !errdefs.IsInvalid(err) {
		t.Fatalf("bad time: %v", err)
	}
}

func TestRouterGreedy(t *testing.T) {
	rt := newRouter()
	hit := ""
	mk := func(name string) handlerFunc {
		return func(_ context.Context, _ http.ResponseWriter, _ *http.Request, v map[string]string) error {
			hit = name + ":" + v["name"]
			return nil
		}
	}
	rt.get("/images/json", mk("list"))
	rt.get("/images/{name:.*}/json", mk("inspect"))
	rt.post("/images/{name:.*}/push", mk("push"))
	rt.del("/images/{name:.*}", mk("delete"))
	rt.get("/containers/{name}/json", mk("cinspect"))
	cases := []struct{ method, path, want string }{
		{"GET", "/images/json", "list:"},
		{"GET", "/images/busybox/json", "inspect:busybox"},
		{"GET", "/images/127.0.0.1:15000/demo/bb:v1/json", "inspect:127.0.0.1:15000/demo/bb:v1"},
		{"POST", "/images/127.0.0.1:15000/demo/bb/push", "push:127.0.0.1:15000/demo/bb"},
		{"DELETE", "/images/mytest/bb:t1", "delete:mytest/bb:t1"},
		{"GET", "/containers/c1/json", "cinspect:c1"},
	}
	for _, c := range cases {
		hit = ""
		h, _, v := rt.lookup(c.method, c.path)
		if h == nil {
			t.Fatalf("%s %s: no route", c.method, c.path)
		}
		h(nil, nil, nil, v)
		if hit != c.want {
			t.Fatalf("%s %s: hit %q, want %q", c.method, c.path, hit, c.want)
		}
	}
	if h, _, _ := rt.lookup("GET", "/containers/a/b/json"); h != nil {
		t.Fatal("single-segment variable matched a slash")
	}
	if h, _, _ := rt.lookup("POST", "/images/json"); h != nil {
		t.Fatal("wrong method matched")
	}
}
