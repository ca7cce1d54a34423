package registry

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ociClient speaks the distribution API by hand, so digests of any
// algorithm can be pushed (go-containerregistry pushes sha256 only).
type ociClient struct {
	t          *testing.T
	url        string // http://host:port
	user, pass string
}

func (c ociClient) do(method, url, contentType string, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = c.url + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, got
}

// upload pushes content as a blob of repo claiming digest claimed (POST then
// PUT) and returns the PUT's answer.
func (c ociClient) upload(repo string, content []byte, claimed digest.Digest) (*http.Response, []byte) {
	c.t.Helper()
	resp, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("start upload in %s: %d %s", repo, resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return c.do(http.MethodPut, loc+sep+"digest="+claimed.String(), "application/octet-stream", content)
}

// blob pushes content by its sha512 and checks the registry answers with
// that digest.
func (c ociClient) blob(repo string, content []byte) ocispec.Descriptor {
	c.t.Helper()
	d := digest.SHA512.FromBytes(content)
	resp, body := c.upload(repo, content, d)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != d.String() ||
		!strings.HasSuffix(resp.Header.Get("Location"), "/v2/"+repo+"/blobs/"+d.String()) {
		c.t.Fatalf("push blob %s: %d %v %s", d, resp.StatusCode, resp.Header, body)
	}
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(content))}
}

// putManifest pushes body to repo under ref (a tag or a digest).
func (c ociClient) putManifest(repo, ref, mediaType string, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	return c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, mediaType, body)
}

// image pushes a config and n random layers by sha512, and returns an
// image manifest naming them by those digests (not pushed).
func (c ociClient) image(repo string, layers int, subject *ocispec.Descriptor) []byte {
	c.t.Helper()
	cfg := c.blob(repo, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Subject:   subject,
		Layers:    []ocispec.Descriptor{},
	}
	for range layers {
		l := c.blob(repo, randomBytes(c.t, 2048))
		l.MediaType = ocispec.MediaTypeImageLayerGzip
		m.Layers = append(m.Layers, l)
	}
	body, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	return body
}

// pushImage pushes an image by the sha512 of its manifest and returns that
// digest and the manifest.
func (c ociClient) pushImage(repo string, layers int, subject *ocispec.Descriptor) (digest.Digest, []byte) {
	c.t.Helper()
	body := c.image(repo, layers, subject)
	d := digest.SHA512.FromBytes(body)
	resp, got := c.putManifest(repo, d.String(), ocispec.MediaTypeImageManifest, body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != d.String() ||
		!strings.HasSuffix(resp.Header.Get("Location"), "/v2/"+repo+"/manifests/"+d.String()) {
		c.t.Fatalf("push manifest %s: %d %v %s", d, resp.StatusCode, resp.Header, got)
	}
	return d, body
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// expect checks a request's status and, when want is set, its
// Docker-Content-Digest.
func (c ociClient) expect(method, path string, status int, want digest.Digest) []byte {
	c.t.Helper()
	resp, body := c.do(method, path, "", nil)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, body, status)
	}
	if want != "" && resp.Header.Get("Docker-Content-Digest") != want.String() {
		c.t.Fatalf("%s %s: Docker-Content-Digest %q, want %s", method, path, resp.Header.Get("Docker-Content-Digest"), want)
	}
	return body
}

// TestSHA512PushPullDelete pushes an image whose manifest, config and layers
// are addressed by sha512, pulls it back by those digests, mounts a layer
// into another repository, lists a referrer whose subject is given by
// sha512, tags it, and deletes it all.
func TestSHA512PushPullDelete(t *testing.T) {
	srv := startServer(t, Options{Htpasswd: writeHtpasswd(t, "alice", "s3cret")})
	c := ociClient{t: t, url: srv.URL(), user: "alice", pass: "s3cret"}

	mdgst, manifest := c.pushImage("app", 2, nil)
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	if got := c.expect(http.MethodGet, "/v2/app/manifests/"+mdgst.String(), http.StatusOK, mdgst); !bytes.Equal(got, manifest) {
		t.Fatalf("pulled manifest differs:\n%s\n%s", got, manifest)
	}
	c.expect(http.MethodHead, "/v2/app/manifests/"+mdgst.String(), http.StatusOK, mdgst)
	layer := m.Layers[0].Digest
	body := c.expect(http.MethodGet, "/v2/app/blobs/"+layer.String(), http.StatusOK, layer)
	if digest.SHA512.FromBytes(body) != layer {
		t.Fatalf("pulled layer does not match %s", layer)
	}
	c.expect(http.MethodHead, "/v2/app/blobs/"+layer.String(), http.StatusOK, layer)

	// Mounted by its sha512 into another repository, the layer answers
	// there by that digest.
	resp, got := c.do(http.MethodPost, "/v2/other/blobs/uploads/?mount="+layer.String()+"&from=app", "", nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != layer.String() ||
		!strings.HasSuffix(resp.Header.Get("Location"), "/v2/other/blobs/"+layer.String()) {
		t.Fatalf("mount: %d %v %s", resp.StatusCode, resp.Header, got)
	}
	c.expect(http.MethodGet, "/v2/other/blobs/"+layer.String(), http.StatusOK, layer)

	// A referrer pushed by sha512 whose subject is the sha512 manifest.
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: mdgst, Size: int64(len(manifest))}
	sig := c.image("app", 1, &subject)
	sigDigest := digest.SHA512.FromBytes(sig)
	resp, got = c.putManifest("app", sigDigest.String(), ocispec.MediaTypeImageManifest, sig)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("OCI-Subject") != mdgst.String() {
		t.Fatalf("push referrer: %d %v %s", resp.StatusCode, resp.Header, got)
	}
	referrers := func() []ocispec.Descriptor {
		var idx ocispec.Index
		if err := json.Unmarshal(c.expect(http.MethodGet, "/v2/app/referrers/"+mdgst.String(), http.StatusOK, ""), &idx); err != nil {
			t.Fatal(err)
		}
		return idx.Manifests
	}
	if list := referrers(); len(list) != 1 || list[0].Digest != sigDigest || list[0].Size != int64(len(sig)) {
		t.Fatalf("referrers of %s = %+v, want %s", mdgst, list, sigDigest)
	}

	// Tagged (a tag names the sha256 the content is stored under), listed,
	// and untagged by deleting the manifest by its sha512.
	if resp, got := c.putManifest("app", "v1", ocispec.MediaTypeImageManifest, manifest); resp.StatusCode != http.StatusCreated {
		t.Fatalf("tag: %d %s", resp.StatusCode, got)
	}
	if got := c.expect(http.MethodGet, "/v2/app/tags/list", http.StatusOK, ""); !strings.Contains(string(got), `"v1"`) {
		t.Fatalf("tags: %s", got)
	}
	c.expect(http.MethodDelete, "/v2/app/manifests/"+mdgst.String(), http.StatusAccepted, "")
	c.expect(http.MethodGet, "/v2/app/manifests/"+mdgst.String(), http.StatusNotFound, "")
	c.expect(http.MethodGet, "/v2/app/manifests/"+digest.Canonical.FromBytes(manifest).String(), http.StatusNotFound, "")
	c.expect(http.MethodGet, "/v2/app/manifests/v1", http.StatusNotFound, "")
	if got := c.expect(http.MethodGet, "/v2/app/tags/list", http.StatusOK, ""); strings.Contains(string(got), `"v1"`) {
		t.Fatalf("tag left after delete: %s", got)
	}

	// Deleting the referrer by its sha256 takes its sha512 alias too.
	c.expect(http.MethodDelete, "/v2/app/manifests/"+digest.Canonical.FromBytes(sig).String(), http.StatusAccepted, "")
	c.expect(http.MethodGet, "/v2/app/manifests/"+sigDigest.String(), http.StatusNotFound, "")
	if list := referrers(); len(list) != 0 {
		t.Fatalf("referrers after delete = %+v", list)
	}

	c.expect(http.MethodDelete, "/v2/app/blobs/"+layer.String(), http.StatusAccepted, "")
	c.expect(http.MethodGet, "/v2/app/blobs/"+layer.String(), http.StatusNotFound, "")
	c.expect(http.MethodGet, "/v2/other/blobs/"+layer.String(), http.StatusOK, layer)
}

// TestSHA512WrongDigest pushes a blob and a manifest under sha512 digests
// that are not theirs: both refused with DIGEST_INVALID as for sha256, and
// nothing kept. Without credentials the manifest PUT is refused first.
func TestSHA512WrongDigest(t *testing.T) {
	root := t.TempDir()
	srv := startServer(t, Options{Root: root, Htpasswd: writeHtpasswd(t, "alice", "s3cret")})
	c := ociClient{t: t, url: srv.URL(), user: "alice", pass: "s3cret"}

	content := []byte("the real content")
	wrong := digest.SHA512.FromString("something else")
	resp, body := c.upload("bad", content, wrong)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("blob under a wrong sha512: %d %s", resp.StatusCode, body)
	}
	for _, d := range []digest.Digest{wrong, digest.SHA512.FromBytes(content), digest.Canonical.FromBytes(content)} {
		c.expect(http.MethodHead, "/v2/bad/blobs/"+d.String(), http.StatusNotFound, "")
	}
	if n := countBlobs(t, root); n != 0 {
		t.Fatalf("%d blobs stored after a rejected upload", n)
	}

	manifest := c.image("bad", 1, nil)
	blobs := countBlobs(t, root)
	resp, body = c.putManifest("bad", wrong.String(), ocispec.MediaTypeImageManifest, manifest)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Fatalf("manifest under a wrong sha512: %d %s", resp.StatusCode, body)
	}
	right := digest.SHA512.FromBytes(manifest)
	anon := ociClient{t: t, url: srv.URL()}
	if resp, body := anon.putManifest("bad", right.String(), ocispec.MediaTypeImageManifest, manifest); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("manifest without credentials: %d %s", resp.StatusCode, body)
	}
	for _, d := range []digest.Digest{wrong, right, digest.Canonical.FromBytes(manifest)} {
		c.expect(http.MethodHead, "/v2/bad/manifests/"+d.String(), http.StatusNotFound, "")
	}
	if n := countBlobs(t, root); n != blobs {
		t.Fatalf("refused manifests stored content: %d blobs, had %d", n, blobs)
	}
	if links := aliasLinks(t, root); len(links) != 2 { // the config and layer pushed by sha512
		t.Fatalf("alias links after refused manifests: %v", links)
	}
}

// TestSHA512GarbageCollect checks that collection keeps what manifests
// reference only by sha512 (the data lives under its sha256), sweeps it and
// its aliases once unreferenced, and, with --delete-untagged, keeps an
// untagged manifest a tagged index references by sha512.
func TestSHA512GarbageCollect(t *testing.T) {
	root := t.TempDir()
	srv, stop := startStoppable(t, Options{Root: root})
	c := ociClient{t: t, url: srv.URL()}

	mdgst, _ := c.pushImage("app", 2, nil)
	stray := c.blob("app", randomBytes(t, 1000)).Digest // referenced by nothing
	child, childManifest := c.pushImage("multi", 1, nil)
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: child, Size: int64(len(childManifest))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := c.putManifest("multi", "latest", ocispec.MediaTypeImageIndex, index); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push index: %d %s", resp.StatusCode, body)
	}
	stop()
	before := countBlobs(t, root)

	gc(t, root, GCOptions{Quiet: true, RemoveUntagged: true})
	// Swept: the stray blob, app's manifest (untagged) and its two layers;
	// kept: the index, its child (untagged, but referenced by sha512) and
	// the child's blobs, among them the config app's image shared.
	if n := countBlobs(t, root); n != before-4 {
		t.Fatalf("after gc: %d blobs, had %d; want the stray blob and app's image swept", n, before)
	}
	srv = startServer(t, Options{Root: root})
	c = ociClient{t: t, url: srv.URL()}
	c.expect(http.MethodGet, "/v2/app/blobs/"+stray.String(), http.StatusNotFound, "")
	c.expect(http.MethodGet, "/v2/app/manifests/"+mdgst.String(), http.StatusNotFound, "")
	c.expect(http.MethodGet, "/v2/multi/manifests/latest", http.StatusOK, "")
	childBody := c.expect(http.MethodGet, "/v2/multi/manifests/"+child.String(), http.StatusOK, child)
	var cm ocispec.Manifest
	if err := json.Unmarshal(childBody, &cm); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{cm.Config}, cm.Layers...) {
		c.expect(http.MethodGet, "/v2/multi/blobs/"+d.Digest.String(), http.StatusOK, d.Digest)
	}
	// app keeps only its link to the shared config (still marked, as
	// distribution keeps the sha256 link of a blob marked anywhere).
	for _, l := range aliasLinks(t, root) {
		if strings.Contains(l, "/app/") && !strings.Contains(l, cm.Config.Digest.Encoded()) {
			t.Errorf("alias left in app after its content was swept: %s", l)
		}
	}

	// Unreferenced once the index is gone: everything goes, aliases too.
	c.expect(http.MethodDelete, "/v2/multi/manifests/"+digest.Canonical.FromBytes(index).String(), http.StatusAccepted, "")
	c.expect(http.MethodDelete, "/v2/multi/manifests/"+child.String(), http.StatusAccepted, "")
	gc(t, root, GCOptions{Quiet: true, DryRun: true})
	if n := countBlobs(t, root); n == 0 {
		t.Fatal("dry run removed blobs")
	}
	gc(t, root, GCOptions{Quiet: true})
	if n := countBlobs(t, root); n != 0 {
		t.Fatalf("%d blobs left after everything was deleted", n)
	}
	if links := aliasLinks(t, root); len(links) != 0 {
		t.Fatalf("aliases left after everything was deleted: %v", links)
	}
}

// aliasLinks lists the link files of non-sha256 digests under a filesystem
// storage root.
func aliasLinks(t *testing.T, root string) []string {
	t.Helper()
	var links []string
	dir := filepath.Join(root, "docker/registry/v2/repositories")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Name() == "link" && strings.Contains(p, "/sha512/") {
			links = append(links, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return links
}

// TestSHA512Mirror pulls a sha512-addressed image through a pull-through
// cache, then again from its cache once the upstream is gone.
func TestSHA512Mirror(t *testing.T) {
	upstream, stopUpstream := startStoppable(t, Options{Htpasswd: writeHtpasswd(t, "bob", "pw")})
	up := ociClient{t: t, url: upstream.URL(), user: "bob", pass: "pw"}
	mdgst, manifest := up.pushImage("lib/app", 2, nil)
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	mirror := startServer(t, Options{ProxyRemote: upstream.URL(), ProxyUser: "bob", ProxyPass: "pw"})
	c := ociClient{t: t, url: mirror.URL()}
	pull := func() {
		t.Helper()
		if got := c.expect(http.MethodGet, "/v2/lib/app/manifests/"+mdgst.String(), http.StatusOK, mdgst); !bytes.Equal(got, manifest) {
			t.Fatalf("mirror served another manifest: %s", got)
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if got := c.expect(http.MethodGet, "/v2/lib/app/blobs/"+d.Digest.String(), http.StatusOK, d.Digest); digest.SHA512.FromBytes(got) != d.Digest {
				t.Fatalf("mirror served other content for %s", d.Digest)
			}
		}
	}
	pull()
	stopUpstream()
	pull()
}
