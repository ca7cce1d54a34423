package registry

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// conformancePkg is the OCI distribution-spec conformance suite, pinned in
// go.mod and built from the module cache.
const conformancePkg = "github.com/opencontainers/distribution-spec/conformance"

// TestOCIConformance runs the distribution-spec conformance suite (pull,
// push, content discovery, content management) against a registry with
// htpasswd auth.
func TestOCIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the OCI conformance suite")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	dir := t.TempDir()
	suite := filepath.Join(dir, "conformance")
	build := exec.Command(goBin, "build", "-o", suite, conformancePkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the conformance suite: %v\n%s", err, out)
	}

	srv := startServer(t, Options{Htpasswd: writeHtpasswd(t, "oci", "conformance")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, suite)
	run.Dir = dir // it reads ./oci-conformance.yaml if present; there is none
	run.Env = append(os.Environ(),
		"OCI_REGISTRY="+srv.Addr().String(),
		"OCI_TLS=disabled",
		"OCI_USERNAME=oci",
		"OCI_PASSWORD=conformance",
		"OCI_RESULTS_DIR="+filepath.Join(dir, "results"),
		"OCI_VERSION=1.1",
		// Every workflow runs, sha512 content included (stored under its
		// sha256 with an alias link, aliases.go); the referrers API and
		// OCI-Subject are ours (referrers.go), foreign layers are allowed
		// by the flag-built config.
		"OCI_DATA_SHA512=true",
	)
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	err = run.Run()
	report := out.String()
	if err != nil || !strings.Contains(report, "OCI Conformance Result: Pass") {
		t.Fatalf("conformance suite failed (%v):\n%s", err, tail(report, 120))
	}
	// Every workflow the registry promises must have run and passed, not
	// been skipped as unsupported.
	for _, check := range []string{
		"Ping", "Blob push", "Blob post put", "Blob chunked", "Blob streaming",
		"Blob mount", "Blob get", "Blob get range", "Blob head", "Blob delete",
		"Manifest put by digest", "Manifest put by tag", "Manifest get by digest",
		"Manifest get by tag", "Manifest head by digest", "Manifest head by tag",
		"Manifest delete", "Tag listing", "Tag delete",
		"Image", "Index", "Nested Index", "Artifact", "Bad Digest Image",
		"Referrers", "Manifest put with subject", "Artifacts with Subject",
		"Index with Subject", "Missing Subject", "Non-distributable Layers",
		// sha512 content: every blob workflow above runs for it too, so
		// their Pass includes it.
		"Blobs sha256", "Blobs sha512", "Digest Algorithm sha512",
	} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(check) + `\.+:\s+(\S+)`)
		m := re.FindStringSubmatch(report)
		if m == nil || m[1] != "Pass" {
			t.Errorf("%s: %v", check, m)
		}
	}
	if m := regexp.MustCompile(`Pass\.+:\s+(\d+)`).FindStringSubmatch(report); m != nil {
		t.Logf("conformance: %s checks passed", m[1])
	}
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
