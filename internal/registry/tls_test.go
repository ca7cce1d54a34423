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
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
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
}
