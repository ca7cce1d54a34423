package registry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/distribution/v3/configuration"
)

// tlsConfig builds the server TLS settings from distribution's http.tls
// section: certificate, minimum version, cipher suites and client
// certificate verification, with the same defaults distribution uses.
func tlsConfig(c configuration.TLS) (*tls.Config, error) {
	if c.LetsEncrypt.CacheFile != "" {
		return nil, errdefs.Invalidf("http.tls.letsencrypt is not supported by berth-registry; give a certificate and key")
	}
	versions := map[string]uint16{"": tls.VersionTLS12, "tls1.2": tls.VersionTLS12, "tls1.3": tls.VersionTLS13}
	minVersion, ok := versions[c.MinimumTLS]
	if !ok {
		return nil, errdefs.Invalidf("unknown minimum TLS level %q specified for http.tls.minimumtls", c.MinimumTLS)
	}
	cert, err := tls.LoadX509KeyPair(c.Certificate, c.Key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	conf := &tls.Config{
		MinVersion:   minVersion,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	// Go ignores cipher suites for TLS 1.3, so they only matter at 1.2.
	if len(c.CipherSuites) > 0 && minVersion == tls.VersionTLS12 {
		if conf.CipherSuites, err = cipherSuites(c.CipherSuites); err != nil {
			return nil, err
		}
	}
	if len(c.ClientCAs) > 0 {
		if err := clientVerification(conf, c); err != nil {
			return nil, err
		}
	}
	return conf, nil
}

func cipherSuites(names []string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		known[s.Name] = s.ID
	}
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := known[n]
		if !ok {
			return nil, errdefs.Invalidf("unknown or insecure cipher suite %q in http.tls.ciphersuites", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// clientVerification makes the server ask for client certificates signed
// by http.tls.clientcas; like distribution, requiring and verifying them
// unless http.tls.clientauth says otherwise.
func clientVerification(conf *tls.Config, c configuration.TLS) error {
	pool := x509.NewCertPool()
	for _, path := range c.ClientCAs {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("http.tls.clientcas: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return errdefs.Invalidf("http.tls.clientcas: no certificate in %s", path)
		}
	}
	modes := map[configuration.ClientAuth]tls.ClientAuthType{
		"": tls.RequireAndVerifyClientCert,
		configuration.ClientAuthRequestClientCert:          tls.RequestClientCert,
		configuration.ClientAuthRequireAnyClientCert:       tls.RequireAnyClientCert,
		configuration.ClientAuthVerifyClientCertIfGiven:    tls.VerifyClientCertIfGiven,
		configuration.ClientAuthRequireAndVerifyClientCert: tls.RequireAndVerifyClientCert,
	}
	mode, ok := modes[c.ClientAuth]
	if !ok {
		return errdefs.Invalidf("unknown client auth mode %q specified for http.tls.clientauth", c.ClientAuth)
	}
	conf.ClientAuth, conf.ClientCAs = mode, pool
	return nil
}
