package registry

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestReferrers pushes an image and two artifacts that name it as their
// subject with go-containerregistry, then lists them through the referrers
// API as a client does: all, filtered by artifact type, after a delete, and
// without credentials.
func TestReferrers(t *testing.T) {
	srv := startServer(t, Options{Htpasswd: writeHtpasswd(t, "alice", "s3cret")})
	auth := remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})

	img := randomImage(t, 1)
	if err := remote.Write(ref(t, srv, "app:1"), img, auth); err != nil {
		t.Fatal(err)
	}
	subject := digestOf(t, img)
	subjDesc, err := partial(img)
	if err != nil {
		t.Fatal(err)
	}
	sig := artifact(t, subjDesc, "application/vnd.example.signature", map[string]string{"kind": "sig"})
	sbom := artifact(t, subjDesc, "application/vnd.example.sbom", nil)
	for _, a := range []v1.Image{sig, sbom} {
		d := digestOf(t, a)
		if err := remote.Write(ref(t, srv, "app@"+d.String()), a, auth); err != nil {
			t.Fatalf("push artifact: %v", err)
		}
	}

	subjRef, err := name.NewDigest(srv.Addr().String() + "/app@" + subject.String())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(subjRef, auth)
	if err != nil {
		t.Fatalf("referrers: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]v1.Descriptor{}
	for _, d := range m.Manifests {
		got[d.ArtifactType] = d
	}
	if len(m.Manifests) != 2 || got["application/vnd.example.signature"].Digest != digestOf(t, sig) ||
		got["application/vnd.example.sbom"].Digest != digestOf(t, sbom) {
		t.Fatalf("referrers = %+v", m.Manifests)
	}
	if got["application/vnd.example.signature"].Annotations["kind"] != "sig" {
		t.Errorf("annotations not listed: %+v", got["application/vnd.example.signature"])
	}

	// The artifactType filter, and the header that says it was applied.
	base := srv.URL() + "/v2/app/referrers/" + subject.String()
	resp, body := get(t, base+"?artifactType=application/vnd.example.sbom", "alice", "s3cret")
	if resp.StatusCode != 200 || resp.Header.Get("OCI-Filters-Applied") != "artifactType" ||
		resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("filtered: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var filtered v1.IndexManifest
	if err := json.Unmarshal(body, &filtered); err != nil || len(filtered.Manifests) != 1 ||
		filtered.Manifests[0].Digest != digestOf(t, sbom) {
		t.Fatalf("filtered list = %s (%v)", body, err)
	}

	// No credentials: distribution's refusal, not the list.
	resp, _ = get(t, base, "", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("unauthenticated: %d %v", resp.StatusCode, resp.Header)
	}

	// A deleted referrer leaves the list.
	if err := remote.Delete(ref(t, srv, "app@"+digestOf(t, sig).String()), auth); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, base, "alice", "s3cret")
	if err := json.Unmarshal(body, &filtered); err != nil || resp.StatusCode != 200 || len(filtered.Manifests) != 1 {
		t.Fatalf("after delete: %d %s", resp.StatusCode, body)
	}

	// A subject nobody refers to, or a repository that does not exist: an
	// empty index. A malformed digest: 400 in the registry's error shape.
	resp, body = get(t, srv.URL()+"/v2/nothing/here/referrers/sha256:"+strings.Repeat("0", 64), "alice", "s3cret")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"manifests":[]`) {
		t.Fatalf("empty: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv.URL()+"/v2/app/referrers/sha256:nothex", "alice", "s3cret")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("bad digest: %d %s", resp.StatusCode, body)
	}
}

// partial is the descriptor a subject field holds for img.
func partial(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	sz, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: sz}, nil
}

// artifact is an OCI manifest with no layers whose config media type is its
// artifact type, pointing at subject.
func artifact(t *testing.T, subject v1.Descriptor, artifactType string, annotations map[string]string) v1.Image {
	t.Helper()
	a := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	a = mutate.ConfigMediaType(a, types.MediaType(artifactType))
	if annotations != nil {
		a = mutate.Annotations(a, annotations).(v1.Image)
	}
	// Subject last: go-containerregistry's Annotations drops a subject set before it.
	return mutate.Subject(a, subject).(v1.Image)
}

func get(t *testing.T, url, user, pass string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
