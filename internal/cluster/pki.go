package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certSpec is one certificate signed by the cluster CA.
type certSpec struct {
	name   string // file stem under pki/
	cn     string
	orgs   []string
	server bool
	client bool
	dns    []string
	ips    []net.IP
	// chain appends the CA to the certificate file, so TLS clients get
	// it in the handshake: a joining node checks it against the CA hash
	// of its join token before it sends its bootstrap token.
	chain bool
}

// PKI is the cluster's certificate authority and the certificates signed by
// it, as files under dir. Keys are ECDSA P-256: every component accepts them
// and they take microseconds to make, where RSA 2048 takes tens of ms each.
type PKI struct {
	Dir string
}

func (p PKI) Cert(name string) string { return filepath.Join(p.Dir, name+".crt") }
func (p PKI) Key(name string) string  { return filepath.Join(p.Dir, name+".key") }
func (p PKI) CA() string              { return p.Cert("ca") }

// certSpecs lists what the components need. Every client identity is the
// one Kubernetes' bootstrap RBAC roles name, so the cluster could switch to
// RBAC authorization without new certificates.
func certSpecs(id Identity, sn Subnets) []certSpec {
	lo := net.IPv4(127, 0, 0, 1)
	return []certSpec{
		{name: "apiserver", cn: "kube-apiserver", server: true, chain: true,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{lo, net.IP(sn.APIServiceIP().AsSlice())}},
		{name: "etcd", cn: "etcd", server: true, client: true, dns: []string{"localhost"}, ips: []net.IP{lo}},
		{name: "apiserver-etcd-client", cn: "kube-apiserver-etcd-client", client: true},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{name: "admin", cn: "berth-admin", orgs: []string{"system:masters"}, client: true},
		{name: "kubelet", cn: "system:node:" + id.NodeName, orgs: []string{"system:nodes"}, client: true},
		{name: "kubelet-serving", cn: id.NodeName, server: true, dns: []string{id.NodeName, "localhost"}, ips: []net.IP{lo, net.IP(sn.Gateway().AsSlice())}},
		{name: "kube-controller-manager", cn: "system:kube-controller-manager", client: true},
		{name: "kube-scheduler", cn: "system:kube-scheduler", client: true},
		{name: "kube-proxy", cn: "system:kube-proxy", client: true},
		{name: "coredns", cn: "system:coredns", client: true},
	}
}

// Generate writes the CA, every certificate and the service-account key
// pair. An existing CA is reused so a second `up` keeps kubeconfigs valid.
func (p PKI) Generate(id Identity, sn Subnets) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := p.loadCA()
	if err != nil {
		caCert, caKey, err = p.newCA()
		if err != nil {
			return fmt.Errorf("cluster CA: %w", err)
		}
	}
	for _, s := range certSpecs(id, sn) {
		if err := p.issue(s, caCert, caKey); err != nil {
			return fmt.Errorf("certificate %s: %w", s.name, err)
		}
	}
	// Service-account tokens are signed with this key (ES256).
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(p.Key("sa"), sa); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func (p PKI) newCA() (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "berth-cluster-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(p.Key("ca"), key); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(p.CA(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func (p PKI) loadCA() (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(p.CA())
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(p.Key("ca"))
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, errors.New("bad PEM")
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func (p PKI) issue(s certSpec, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKey(p.Key(s.name), key); err != nil {
		return err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if s.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	}
	return os.WriteFile(p.Cert(s.name), out, 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
