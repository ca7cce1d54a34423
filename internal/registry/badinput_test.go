package registry

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBlobDigestMismatch uploads a blob under a digest that is not its own:
// the registry must refuse it and keep nothing under either digest.
func TestBlobDigestMismatch(t *testing.T) {
	root := t.TempDir()
	srv := startServer(t, Options{Root: root})
	base := srv.URL() + "/v2/bad/blob"
	content := []byte("the real content")
	claimed := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("something else")))
	actual := fmt.Sprintf("sha256:%x", sha256.Sum256(content))

	resp := do(t, http.MethodPost, base+"/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = srv.URL() + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp = do(t, http.MethodPut, loc+sep+"digest="+claimed, content)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("mismatched digest: %d %s, want 400 DIGEST_INVALID", resp.StatusCode, body)
	}
	for _, d := range []string{claimed, actual} {
		if resp := do(t, http.MethodHead, base+"/blobs/"+d, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("blob %s after a rejected upload: %d, want 404", d, resp.StatusCode)
		}
	}
	if n := countBlobs(t, root); n != 0 {
		t.Fatalf("%d blobs stored after a rejected upload", n)
	}
}

// TestManifestUnknownBlobs pushes a manifest whose layers were never
// uploaded: refused with MANIFEST_BLOB_UNKNOWN, no tag created.
func TestManifestUnknownBlobs(t *testing.T) {
	srv := startServer(t, Options{})
	missing := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("absent")))
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + missing + `","size":6},` +
		`"layers":[]}`
	req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/v2/bad/manifest/manifests/v1", strings.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "MANIFEST_BLOB_UNKNOWN") {
		t.Fatalf("manifest with a missing blob: %d %s", resp.StatusCode, body)
	}
	if resp := do(t, http.MethodGet, srv.URL()+"/v2/bad/manifest/manifests/v1", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tag exists after a rejected manifest: %d", resp.StatusCode)
	}
}

// do sends one request; the body is left for the caller but closed at the
// end of the test.
func do(t *testing.T, method, url string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
