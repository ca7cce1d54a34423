package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a certificate for cn signed by parent (self-signed when
// parent is nil) and its key as PEM files.
func writeCert(t *testing.T, dir, name, cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if !isCA {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// --tlsverify on a tcp host: the docker CLI with a client certificate gets
// in, one without is refused.
func TestDaemonTLSVerify(t *testing.T) {
	certs := t.TempDir()
	ca, caKey := writeCert(t, certs, "ca", "berth test CA", true, nil, nil, 0)
	writeCert(t, certs, "server", "127.0.0.1", false, ca, caKey, x509.ExtKeyUsageServerAuth)
	writeCert(t, certs, "cert", "client", false, ca, caKey, x509.ExtKeyUsageClientAuth)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	o := newOwnDaemon(t, "-H", "tcp://"+addr, "--tlsverify", "--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "server.pem"), "--tlskey", filepath.Join(certs, "server-key.pem"))
	// The docker CLI reads ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH.
	os.Rename(filepath.Join(certs, "cert-key.pem"), filepath.Join(certs, "key.pem"))
	dr := o.dr
	dr.Env = append(append([]string{}, o.dr.Env...), "DOCKER_HOST=tcp://"+addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+certs)
	r := dr.Run(context.Background(), nil, "run", "--rm", "busybox", "echo", "over-tls")
	if r.Code != 0 || r.Out() != "over-tls" {
		t.Fatalf("with a client certificate: %s", r)
	}
	noCert := o.dr
	noCert.Env = append(append([]string{}, o.dr.Env...), "DOCKER_HOST=tcp://"+addr)
	if r := noCert.Run(context.Background(), nil, "version"); r.Code == 0 || strings.Contains(r.Stdout, "Berth Engine") {
		t.Fatalf("a plain client must not get through: %s", r)
	}
}
