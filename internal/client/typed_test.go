package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
)

func TestFilters(t *testing.T) {
	if q := ParseFilters(nil).Query(); len(q) != 0 {
		t.Fatalf("no filters sent %v", q)
	}
	q := ParseFilters([]string{"Label=a=b", "label=c", "dangling=true"}).Query()
	if got := q.Get("filters"); got != `{"dangling":{"true":true},"label":{"a=b":true,"c":true}}` {
		t.Fatalf("filters = %s", got)
	}
	// A key with no values is still sent (compose lists by label with none).
	if got := (Filters{"label": nil}).Query().Get("filters"); got != `{"label":{}}` {
		t.Fatalf("empty key = %s", got)
	}
}

// TestTypedCalls checks that each typed method sends its endpoint's
// method, path, query and body and decodes the answer.
func TestTypedCalls(t *testing.T) {
	type call struct{ method, path, query, body string }
	var got []call
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.50")
			return
		}
		b, _ := io.ReadAll(r.Body)
		got = append(got, call{r.Method, r.URL.Path, r.URL.RawQuery, string(b)})
		switch r.URL.Path {
		case "/v1.50/volumes/create":
			json.NewEncoder(w).Encode(volume.Volume{Name: "v1"})
		case "/v1.50/volumes":
			json.NewEncoder(w).Encode(volume.ListResponse{Volumes: []volume.Volume{{Name: "v1"}}})
		case "/v1.50/networks/create":
			json.NewEncoder(w).Encode(network.CreateResponse{ID: "n1"})
		case "/v1.50/networks":
			json.NewEncoder(w).Encode([]network.Summary{{Network: network.Network{Name: "n1"}}})
		}
	}))
	ctx := context.Background()
	if v, err := c.VolumeCreate(ctx, volume.CreateRequest{Name: "v1"}); err != nil || v.Name != "v1" {
		t.Fatalf("VolumeCreate = %+v, %v", v, err)
	}
	if l, err := c.VolumeList(ctx, Filters{"label": {"k"}}); err != nil || len(l.Volumes) != 1 {
		t.Fatalf("VolumeList = %+v, %v", l, err)
	}
	if err := c.VolumeRemove(ctx, "a/b", true); err != nil {
		t.Fatal(err)
	}
	if n, err := c.NetworkCreate(ctx, network.CreateRequest{Name: "n1"}); err != nil || n.ID != "n1" {
		t.Fatalf("NetworkCreate = %+v, %v", n, err)
	}
	if l, err := c.NetworkList(ctx, nil); err != nil || len(l) != 1 {
		t.Fatalf("NetworkList = %+v, %v", l, err)
	}
	if err := c.NetworkConnect(ctx, "n1", network.ConnectRequest{Container: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.NetworkDisconnect(ctx, "n1", network.DisconnectRequest{Container: "c1", Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.NetworkRemove(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	want := []call{
		{"POST", "/v1.50/volumes/create", "", `{"Name":"v1"}`},
		{"GET", "/v1.50/volumes", "filters=" + url.QueryEscape(`{"label":{"k":true}}`), ""},
		{"DELETE", "/v1.50/volumes/a%2Fb", "force=1", ""},
		{"POST", "/v1.50/networks/create", "", `{"Name":"n1","Driver":"","Scope":"","IPAM":null,"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":null,"Labels":null}`},
		{"GET", "/v1.50/networks", "", ""},
		{"POST", "/v1.50/networks/n1/connect", "", `{"Container":"c1"}`},
		{"POST", "/v1.50/networks/n1/disconnect", "", `{"Container":"c1","Force":true}`},
		{"DELETE", "/v1.50/networks/n1", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("calls = %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.path == "/v1.50/volumes/a/b" {
			g.path = "/v1.50/volumes/a%2Fb" // the server unescapes the path
		}
		if g != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, g, want[i])
		}
	}
}
