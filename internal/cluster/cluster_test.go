package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIdentitiesOfTwoDaemonsDoNotCollide(t *testing.T) {
	def := IdentityFor("/var/lib/berth/")
	a := IdentityFor("/tmp/berth-a")
	b := IdentityFor("/tmp/berth-b")
	if def.Ports.APIServer != 6443 || def.Bridge != "berth-cni0" || def.CgroupRoot != "/berth-kube" {
		t.Fatalf("default identity: %+v", def)
	}
	if a != IdentityFor("/tmp/berth-a") {
		t.Fatal("identity is not a function of the data root")
	}
	for _, o := range []Identity{def, b} {
		if a.Bridge == o.Bridge || a.CgroupRoot == o.CgroupRoot || a.NodeName == o.NodeName || a.NetworkName == o.NetworkName || a.Ports.APIServer == o.Ports.APIServer {
			t.Fatalf("collision:\n%+v\n%+v", a, o)
		}
	}
	for _, id := range []Identity{def, a, b} {
		if len(id.Bridge) > 15 {
			t.Fatalf("bridge name %q too long for the kernel", id.Bridge)
		}
		seen := map[int]bool{}
		for _, p := range id.Ports.list() {
			if seen[p.Port] || p.Port <= 0 || p.Port >= 32768 {
				t.Fatalf("port %d (%s) repeated or in the ephemeral range", p.Port, p.Name)
			}
			seen[p.Port] = true
		}
	}
	sn := candidate(3)
	if sn.Pods.String() != "10.67.0.0/16" || sn.Services.String() != "10.131.0.0/16" || sn.Gateway().String() != "10.67.0.1" || sn.APIServiceIP().String() != "10.131.0.1" {
		t.Fatalf("subnets %+v gw %s", sn, sn.Gateway())
	}
}

func TestPKIChainsUsagesAndReuse(t *testing.T) {
	p := PKI{Dir: t.TempDir()}
	id := IdentityFor("/tmp/berth-pki")
	sn := candidate(0)
	if err := p.Generate(id, sn); err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, p.CA())
	if !ca.IsCA {
		t.Fatal("CA is not a CA")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, s := range certSpecs(id, sn) {
		c := readCert(t, p.Cert(s.name))
		var usages []x509.ExtKeyUsage
		if s.server {
			usages = append(usages, x509.ExtKeyUsageServerAuth)
		}
		if s.client {
			usages = append(usages, x509.ExtKeyUsageClientAuth)
		}
		for _, u := range usages {
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
				t.Fatalf("%s for %v: %v", s.name, u, err)
			}
		}
		if c.Subject.CommonName != s.cn || !slices.Equal(c.Subject.Organization, s.orgs) {
			t.Fatalf("%s subject %v", s.name, c.Subject)
		}
		if fi, _ := os.Stat(p.Key(s.name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s key mode %v", s.name, fi.Mode())
		}
	}
	api := readCert(t, p.Cert("apiserver"))
	if err := api.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := api.VerifyHostname("kubernetes.default.svc"); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(api.IPAddresses, func(ip net.IP) bool { return ip.String() == "10.128.0.1" }) {
		t.Fatalf("apiserver cert lacks the service IP: %v", api.IPAddresses)
	}
	if readCert(t, p.Cert("kubelet")).Subject.CommonName != "system:node:"+id.NodeName {
		t.Fatal("kubelet identity")
	}
	// A second generation keeps the CA (kubeconfigs stay valid).
	if err := p.Generate(id, sn); err != nil {
		t.Fatal(err)
	}
	if !readCert(t, p.CA()).Equal(ca) {
		t.Fatal("CA replaced")
	}
	kc, err := p.kubeconfig("https://127.0.0.1:6443", "admin")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Clusters []struct {
			Name    string
			Cluster map[string]string
		}
		Users []struct {
			Name string
			User map[string]string
		}
		CurrentContext string `json:"current-context"`
	}
	if err := json.Unmarshal(kc, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != ContextName || cfg.Clusters[0].Cluster["server"] != "https://127.0.0.1:6443" {
		t.Fatalf("kubeconfig %s", kc)
	}
	crt, _ := base64.StdEncoding.DecodeString(cfg.Users[0].User["client-certificate-data"])
	if blk, _ := pem.Decode(crt); blk == nil {
		t.Fatal("client certificate not inline")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPauseArchiveIsAConsistentDockerArchive(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := pauseArchive(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest: %v %s", err, files["manifest.json"])
	}
	m := manifest[0]
	if !slices.Equal(m.RepoTags, []string{PauseImage}) {
		t.Fatalf("tags %v", m.RepoTags)
	}
	var cfg struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		}
	}
	if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(files[m.Layers[0]])
	if cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) || cfg.Config.Entrypoint[0] != "/pause" {
		t.Fatalf("config %+v", cfg)
	}
	lr := tar.NewReader(bytes.NewReader(files[m.Layers[0]]))
	h, err := lr.Next()
	if err != nil || h.Name != "pause" || h.Mode&0o111 == 0 {
		t.Fatalf("layer entry %+v %v", h, err)
	}
}

func TestMountsUnderAndUnescape(t *testing.T) {
	if got := unescapeMount(`/a\040b/c`); got != "/a b/c" {
		t.Fatal(got)
	}
	ms := mountsUnder("/proc")
	if len(ms) == 0 || ms[len(ms)-1] != "/proc" {
		t.Fatalf("mounts under /proc: %v", ms)
	}
}
