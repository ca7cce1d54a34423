package registry

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const tokenIssuer = "berth-test-issuer"

// tokenServer is a minimal Docker token service: it checks basic auth and
// signs a JWT granting whatever scope was asked for.
func tokenServer(t *testing.T, key *ecdsa.PrivateKey, user, password string) *httptest.Server {
	t.Helper()
	kid := token.GetJWKThumbprint(key.Public())
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		now := time.Now()
		claims := token.ClaimSet{
			Issuer: tokenIssuer, Subject: u, Audience: token.AudienceList{r.FormValue("service")},
			Expiration: now.Add(5 * time.Minute).Unix(), NotBefore: now.Add(-time.Minute).Unix(),
			IssuedAt: now.Unix(), JWTID: fmt.Sprint(now.UnixNano()),
		}
		for _, scope := range r.Form["scope"] {
			// repository:NAME:ACTIONS; NAME holds no colon here.
			parts := strings.Split(scope, ":")
			if len(parts) == 3 {
				claims.Access = append(claims.Access, &token.ResourceActions{
					Type: parts[0], Name: parts[1], Actions: strings.Split(parts[2], ","),
				})
			}
		}
		payload, _ := json.Marshal(claims)
		sig, err := signer.Sign(payload)
		if err == nil {
			var raw string
			if raw, err = sig.CompactSerialize(); err == nil {
				json.NewEncoder(w).Encode(map[string]string{"token": raw})
				return
			}
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTokenAuth configures token auth through a config file, the way a
// site with its own auth service would run berth-registry.
func TestTokenAuth(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	key := readECKey(t, keyFile)
	auth := tokenServer(t, key, "dave", "pw")
	// go-containerregistry refuses realms on loopback IP literals (its
	// SSRF guard) unless they are the registry's own host, so name it.
	realm := strings.Replace(auth.URL, "127.0.0.1", "localhost", 1) + "/token"
	yml := fmt.Sprintf(`version: 0.1
storage:
  filesystem: {rootdirectory: %s}
http: {addr: "127.0.0.1:0"}
auth:
  token:
    realm: %s
    service: berth-registry
    issuer: %s
    rootcertbundle: %s
`, t.TempDir(), realm, tokenIssuer, certFile)
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := serveStoppable(t, cfg)

	resp, err := http.Get(srv.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := resp.Header.Get("Www-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, `Bearer realm="`+realm+`"`) {
		t.Fatalf("anonymous: %d %q", resp.StatusCode, challenge)
	}

	img := randomImage(t, 1)
	bad := remote.WithAuth(&authn.Basic{Username: "dave", Password: "wrong"})
	if err := remote.Write(ref(t, srv, "tok/img:1"), img, bad); err == nil {
		t.Fatal("push with a wrong password accepted")
	}
	good := remote.WithAuth(&authn.Basic{Username: "dave", Password: "pw"})
	if err := remote.Write(ref(t, srv, "tok/img:1"), img, good); err != nil {
		t.Fatalf("push with a token: %v", err)
	}
	got, err := remote.Image(ref(t, srv, "tok/img:1"), good)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Fatal("pulled image differs from pushed one")
	}
}

func readECKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in key file")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
