package registry

import (
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestProxy runs a second registry as a pull-through cache of the first:
// it serves what was pushed upstream, and keeps serving it from its cache
// once the upstream is gone.
func TestProxy(t *testing.T) {
	upstream, stopUpstream := startStoppable(t, Options{Htpasswd: writeHtpasswd(t, "bob", "pw")})
	img := randomImage(t, 2)
	creds := remote.WithAuth(&authn.Basic{Username: "bob", Password: "pw"})
	if err := remote.Write(ref(t, upstream, "lib/busy:1"), img, creds); err != nil {
		t.Fatal(err)
	}
	mirror := startServer(t, Options{
		ProxyRemote: upstream.URL(), ProxyUser: "bob", ProxyPass: "pw",
	})

	pulled := pullAll(t, mirror, "lib/busy:1")
	if pulled != digestOf(t, img).String() {
		t.Fatalf("mirror served %s, upstream has %s", pulled, digestOf(t, img))
	}
	// What the upstream lacks, the mirror reports as Docker does.
	_, err := remote.Image(ref(t, mirror, "lib/nothere:1"))
	assertStatus(t, err, http.StatusNotFound, "MANIFEST_UNKNOWN")
	// A mirror is read-only: pushes are refused.
	if err := remote.Write(ref(t, mirror, "lib/other:1"), randomImage(t, 1)); err == nil {
		t.Fatal("push to a pull-through cache accepted")
	}

	stopUpstream()
	if again := pullAll(t, mirror, "lib/busy:1"); again != pulled {
		t.Fatalf("cached pull gave %s, want %s", again, pulled)
	}
}

// pullAll pulls repoTag from srv, reading every layer to the end so the
// mirror must deliver (and therefore cache) each blob; it returns the
// manifest digest.
func pullAll(t *testing.T, srv *Server, repoTag string) string {
	t.Helper()
	img, err := remote.Image(ref(t, srv, repoTag))
	if err != nil {
		t.Fatalf("pull %s: %v", repoTag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		// The layer reader verifies the digest at EOF.
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	return digestOf(t, img).String()
}
