package registry

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// writeHtpasswd writes a one-user bcrypt htpasswd file.
func writeHtpasswd(t *testing.T, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHtpasswd(t *testing.T) {
	srv := startServer(t, Options{Htpasswd: writeHtpasswd(t, "alice", "s3cret")})

	// Anonymous clients are challenged with our realm.
	resp, err := http.Get(srv.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous /v2/: %d, want 401", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Www-Authenticate"), `Basic realm="berth-registry"`; got != want {
		t.Fatalf("challenge %q, want %q", got, want)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/v2/_catalog", nil)
	req.SetBasicAuth("alice", "nope")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "UNAUTHORIZED") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, body)
	}

	img := randomImage(t, 1)
	wrong := remote.WithAuth(&authn.Basic{Username: "alice", Password: "nope"})
	err = remote.Write(ref(t, srv, "secure/img:1"), img, wrong)
	assertStatus(t, err, http.StatusUnauthorized, "")
	unknown := remote.WithAuth(&authn.Basic{Username: "mallory", Password: "s3cret"})
	err = remote.Write(ref(t, srv, "secure/img:1"), img, unknown)
	assertStatus(t, err, http.StatusUnauthorized, "")

	right := remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})
	if err := remote.Write(ref(t, srv, "secure/img:1"), img, right); err != nil {
		t.Fatalf("push with the right password: %v", err)
	}
	got, err := remote.Image(ref(t, srv, "secure/img:1"), right)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Fatal("pulled image differs from pushed one")
	}
	_, err = remote.Image(ref(t, srv, "secure/img:1"))
	assertStatus(t, err, http.StatusUnauthorized, "")
}
