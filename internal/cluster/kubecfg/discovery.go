package kubecfg

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// CAHash is a CA's pin as kubeadm writes it (discovery-token-ca-cert-hash):
// "sha256:" and the hex SHA-256 of the certificate's SubjectPublicKeyInfo.
func CAHash(caPEM []byte) (string, error) {
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	return certHash(cert), nil
}

func certHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrCAMismatch is returned when no certificate the server presents has the
// pinned hash, or its own certificate is not signed by that CA.
var ErrCAMismatch = errors.New("the server's certificate authority does not match the join token")

// DiscoverCA connects to a Kubernetes apiserver at addr (HOST:PORT) and
// returns its CA certificate (PEM), trusting it only when its public key
// has the pinned hash and the server's own certificate verifies against it
// for addr's host. The apiserver sends the CA in its chain (Berth's
// clusters serve apiserver.crt with the CA appended), so nothing is sent
// to the server before it has proved who it is: the bootstrap token goes
// only to a server that passed this check.
func DiscoverCA(ctx context.Context, addr, pin string) ([]byte, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("manager address %q: %w", addr, err)
	}
	pin = strings.ToLower(pin)
	var ca *x509.Certificate
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified below against the pinned CA instead of system roots.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrCAMismatch
			}
			for _, c := range cs.PeerCertificates {
				if c.IsCA && certHash(c) == pin {
					ca = c
				}
			}
			if ca == nil {
				return ErrCAMismatch
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
				return fmt.Errorf("%w: %v", ErrCAMismatch, err)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, ErrCAMismatch) {
			return nil, ErrCAMismatch
		}
		return nil, fmt.Errorf("cannot reach the manager at %s: %w", addr, err)
	}
	conn.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil
}
