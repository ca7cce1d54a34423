package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a
// pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth-registry test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	srv := startServer(t, Options{TLSCert: cert, TLSKey: key})
	if got := srv.URL()[:8]; got != "https://" {
		t.Fatalf("URL %s is not https", srv.URL())
	}
	trusting := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(trusting.CloseIdleConnections)

	// A client that does not trust the certificate is refused.
	_, err := http.Get(srv.URL() + "/v2/")
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Fatalf("untrusted client: %v, want an unknown-authority error", err)
	}

	img := randomImage(t, 2)
	r := ref(t, srv, "tls/img:1")
	if err := remote.Write(r, img, remote.WithTransport(trusting)); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	got, err := remote.Image(r, remote.WithTransport(trusting))
	if err != nil {
		t.Fatalf("pull over TLS: %v", err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Fatal("pulled image differs from pushed one")
	}
	// Plain HTTP to the TLS port gets no registry answer.
	resp, err := http.Get("http://" + srv.Addr().String() + "/v2/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served by the TLS listener")
		}
	}
}

func TestTLSOptionsValidated(t *testing.T) {
	if _, err := (Options{Root: t.TempDir(), TLSCert: "c.pem"}).Config(); err == nil {
		t.Fatal("--tls-cert without --tls-key accepted")
	}
	cert, key, _ := selfSigned(t)
	for _, bad := range []configuration.TLS{
		{Certificate: cert, Key: key, MinimumTLS: "tls1.0"},
		{Certificate: cert, Key: key, CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}},
		{Certificate: cert, Key: key, ClientCAs: []string{cert}, ClientAuth: "sometimes"},
		{LetsEncrypt: configuration.LetsEncrypt{CacheFile: "/tmp/le"}},
	} {
		if _, err := tlsConfig(bad); !errdefs.IsInvalid(err) {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
	good := configuration.TLS{Certificate: cert, Key: key, CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}
	if _, err := tlsConfig(good); err != nil {
		t.Fatal(err)
	}
}

// TestMutualTLS: with http.tls.clientcas the registry demands a client
// certificate signed by one of them.
func TestMutualTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	clientCert, clientKey, _ := selfSigned(t)
	cfg, err := Options{Root: t.TempDir(), Addr: "127.0.0.1:0", TLSCert: cert, TLSKey: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.TLS.ClientCAs = []string{clientCert}
	cfg.HTTP.Prefix = "/mirror/"
	srv, _ := serveStoppable(t, cfg)

	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	get := func(certs []tls.Certificate, path string) (int, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(nil, "/mirror/v2/"); err == nil {
		t.Fatalf("no client certificate: HTTP %d, want a handshake failure", code)
	}
	if code, err := get([]tls.Certificate{pair}, "/mirror/v2/"); err != nil || code != http.StatusOK {
		t.Fatalf("with a client certificate: %d %v", code, err)
	}
	// http.prefix moves the API; the bare /v2/ is not served.
	if code, err := get([]tls.Certificate{pair}, "/v2/"); err != nil || code != http.StatusNotFound {
		t.Fatalf("/v2/ outside the prefix: %d %v", code, err)
	}
}
