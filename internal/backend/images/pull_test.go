package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/image"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"
)

// noContainers is a container backend with no containers.
type noContainers struct{}

func (noContainers) ImageUse() map[digest.Digest]int64      { return map[digest.Digest]int64{} }
func (noContainers) ImageUser(digest.Digest) (string, bool) { return "", false }

func TestPullRef(t *testing.T) {
	dg := "sha256:" + strings.Repeat("ab", 32)
	for _, c := range []struct{ ref, tag, want string }{
		{"busybox", "", "docker.io/library/busybox:latest"},
		{"busybox", "1.36", "docker.io/library/busybox:1.36"},
		{"127.0.0.1:5000/demo/bb", "v1", "127.0.0.1:5000/demo/bb:v1"},
		{"127.0.0.1:5000/demo/bb", dg, "127.0.0.1:5000/demo/bb@" + dg},
		{"127.0.0.1:5000/demo/bb:v1", "", "127.0.0.1:5000/demo/bb:v1"},
	} {
		got, err := pullRef(c.ref, c.tag)
		if err != nil || got != c.want {
			t.Errorf("pullRef(%q, %q) = %q, %v; want %q", c.ref, c.tag, got, err, c.want)
		}
	}
	if _, err := pullRef("Bad Name", ""); !errdefs.IsInvalid(err) {
		t.Errorf("bad name: %v", err)
	}
}

// TestImagePull pulls through the daemon entry point from a registry that
// wants basic auth, with credentials as the docker CLI sends them.
func TestImagePull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to unpack layers")
	}
	ctx := context.Background()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/demo/bb:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "user", Password: "pw"})); err != nil {
		t.Fatal(err)
	}
	store, err := image.New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := New(store, nil, events.New(), noContainers{})
	b, _ := json.Marshal(map[string]string{"username": "user", "password": "pw", "serveraddress": host})
	auth := base64.URLEncoding.EncodeToString(b)

	var out bytes.Buffer
	if err := d.ImagePull(ctx, host+"/demo/bb", "v1", "", "", &out); !errdefs.IsNotFound(err) || out.Len() != 0 {
		t.Fatalf("pull without credentials: %v, output %q", err, out.String())
	}
	if err := d.ImagePull(ctx, host+"/demo/bb", "v1", "", auth, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Status: Downloaded newer image for `+host+`/demo/bb:v1"`) {
		t.Errorf("stream: %s", out.String())
	}
	want, _ := img.ConfigName()
	got, err := store.Resolve(ctx, host+"/demo/bb:v1")
	if err != nil || got.ID.String() != want.String() {
		t.Fatalf("resolve: %v %v, want %s", got, err, want)
	}
	past, _, cancel := d.events.Subscribe(time.Unix(1, 0), time.Now(), filters.Args{})
	cancel()
	if len(past) != 1 || past[0].Action != "pull" || past[0].Actor.Attributes["name"] != host+"/demo/bb:v1" {
		t.Errorf("events: %+v", past)
	}

	// By digest in the tag parameter, as the CLI sends name@digest.
	mdig, _ := img.Digest()
	out.Reset()
	if err := d.ImagePull(ctx, host+"/demo/bb", mdig.String(), "", auth, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"id":"`+mdig.String()+`"`) {
		t.Errorf("by digest stream: %s", out.String())
	}
}
