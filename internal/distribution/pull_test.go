package distribution

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/image/layer"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to unpack layers (ownership, device nodes)")
	}
}

// newRegistry serves an in-memory registry on 127.0.0.1, optionally behind
// wrap, and returns its host:port.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newStore(t *testing.T) *image.Store {
	t.Helper()
	s, err := image.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func push(t *testing.T, ref string, img v1.Image, opts ...remote.Option) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(2048, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func configID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// messages decodes a progress stream.
func messages(t *testing.T, b []byte) []jsonstream.Message {
	t.Helper()
	var out []jsonstream.Message
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad stream %q: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

func hasStatus(ms []jsonstream.Message, id, status string) bool {
	for _, m := range ms {
		if m.ID == id && m.Status == status {
			return true
		}
	}
	return false
}

func TestPullByTagAndDigest(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	host := newRegistry(t, nil)
	src := randomImage(t, 3)
	mdig := push(t, host+"/demo/bb:v1", src)
	store := newStore(t)

	var buf bytes.Buffer
	res, err := Pull(ctx, store, host+"/demo/bb:v1", PullOptions{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Image.ID.String(), configID(t, src); got != want {
		t.Fatalf("image id %s, want %s", got, want)
	}
	if res.Digest.String() != mdig.String() {
		t.Errorf("digest %s, want %s", res.Digest, mdig)
	}
	t.Logf("stream:\n%s", buf.String())
	ms := messages(t, buf.Bytes())
	if ms[0].Status != "Pulling from demo/bb" || ms[0].ID != "v1" {
		t.Errorf("first message %+v", ms[0])
	}
	mf, _ := src.Manifest()
	for _, l := range mf.Layers {
		id := l.Digest.Hex[:12]
		for _, s := range []string{"Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"} {
			if !hasStatus(ms, id, s) {
				t.Errorf("no %q for layer %s in %s", s, id, buf.String())
			}
		}
	}
	if !hasStatus(ms, "", "Digest: "+mdig.String()) || !hasStatus(ms, "", "Status: Downloaded newer image for "+host+"/demo/bb:v1") {
		t.Errorf("missing final status in %s", buf.String())
	}
	got, err := store.Resolve(ctx, host+"/demo/bb:v1")
	if err != nil || got.ID != res.Image.ID || len(got.Layers) != 3 {
		t.Fatalf("resolve after pull: %v %+v", err, got)
	}
	if len(got.RepoDigests) != 1 || got.RepoDigests[0] != host+"/demo/bb@"+mdig.String() {
		t.Errorf("RepoDigests %v", got.RepoDigests)
	}

	// Same tag again: nothing downloaded.
	buf.Reset()
	if res, err = Pull(ctx, store, host+"/demo/bb:v1", PullOptions{}, &buf); err != nil || !res.UpToDate {
		t.Fatalf("second pull: %v %+v", err, res)
	}
	ms = messages(t, buf.Bytes())
	if !hasStatus(ms, mf.Layers[0].Digest.Hex[:12], "Already exists") || !hasStatus(ms, "", "Status: Image is up to date for "+host+"/demo/bb:v1") {
		t.Errorf("second pull stream: %s", buf.String())
	}

	// By digest, into a fresh store: stored, not tagged.
	fresh := newStore(t)
	buf.Reset()
	res, err = Pull(ctx, fresh, host+"/demo/bb@"+mdig.String(), PullOptions{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image.ID.String() != configID(t, src) {
		t.Fatalf("by digest: id %s", res.Image.ID)
	}
	if ms := messages(t, buf.Bytes()); ms[0].ID != mdig.String() {
		t.Errorf("by digest: first message %+v", ms[0])
	}
	if got, err := fresh.Resolve(ctx, host+"/demo/bb@"+mdig.String()); err != nil || len(got.RepoTags) != 0 {
		t.Fatalf("resolve by digest: %v %+v", err, got)
	}
}

func TestPullIndexPicksPlatform(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	host := newRegistry(t, nil)
	amd := mutate.MediaType(randomImage(t, 1), types.OCIManifestSchema1)
	arm := mutate.MediaType(randomImage(t, 2), types.OCIManifestSchema1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	r, err := name.ParseReference(host+"/demo/multi:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	store := newStore(t)
	for plat, want := range map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm} {
		var buf bytes.Buffer
		res, err := Pull(ctx, store, host+"/demo/multi", PullOptions{Platform: plat}, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if res.Image.ID.String() != configID(t, want) {
			t.Errorf("%s: got image %s, want %s", plat, res.Image.ID, configID(t, want))
		}
		if res.Digest.String() != idxDigest.String() {
			t.Errorf("%s: digest %s, want the index's %s", plat, res.Digest, idxDigest)
		}
	}
	_, err = Pull(ctx, store, host+"/demo/multi", PullOptions{Platform: "linux/s390x"}, nil)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Errorf("missing platform: %v", err)
	}
}

func TestPullMissingTag(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t, nil)
	push(t, host+"/demo/bb:v1", randomImage(t, 1))
	store := newStore(t)
	var buf bytes.Buffer
	_, err := Pull(ctx, store, host+"/demo/bb:nope", PullOptions{}, &buf)
	want := "manifest for " + host + "/demo/bb:nope not found: manifest unknown"
	if !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want NotFound %q", err, want)
	}
	if buf.Len() != 0 {
		t.Errorf("progress written before the error: %s", buf.String())
	}
}

func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestPullWithBasicAuth(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	host := newRegistry(t, basicAuth("user", "s3cret"))
	src := randomImage(t, 1)
	push(t, host+"/demo/private:v1", src, remote.WithAuth(&authn.Basic{Username: "user", Password: "s3cret"}))
	store := newStore(t)

	_, err := Pull(ctx, store, host+"/demo/private:v1", PullOptions{}, nil)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "pull access denied for "+host+"/demo/private") {
		t.Fatalf("anonymous pull: %v", err)
	}
	bad, err := DecodeAuth(authHeader(t, "user", "wrong", host))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, store, host+"/demo/private:v1", PullOptions{Auth: bad}, nil); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
	good, err := DecodeAuth(authHeader(t, "user", "s3cret", host))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pull(ctx, store, host+"/demo/private:v1", PullOptions{Auth: good}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image.ID.String() != configID(t, src) {
		t.Errorf("got %s", res.Image.ID)
	}
}

// authHeader encodes credentials as the docker CLI does for X-Registry-Auth.
func authHeader(t *testing.T, user, pass, server string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": server})
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(b)
}

func TestDecodeAuth(t *testing.T) {
	a, err := DecodeAuth("")
	if err != nil || a != authn.Anonymous {
		t.Fatalf("empty header: %v %v", a, err)
	}
	a, err = DecodeAuth(authHeader(t, "u", "p", "example.com"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil || cfg.Username != "u" || cfg.Password != "p" {
		t.Fatalf("got %+v %v", cfg, err)
	}
	if _, err := DecodeAuth("!!!"); !errdefs.IsInvalid(err) {
		t.Errorf("garbage header: %v", err)
	}
}

func TestInsecureHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.3.4.5": true, "localhost:5000": true, "[::1]:5000": true,
		"registry-1.docker.io": false, "10.0.0.1:5000": false,
	} {
		if got := insecureHost(host); got != want {
			t.Errorf("insecureHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// corruptLayers serves the blobs named in bad changed as bad says: "flip"
// flips the last byte, "extra" adds a byte, "short" drops the last one and
// "recompress" compresses the same tar anew to the same length (its diff
// ID holds, its digest does not); "extra" and "short" go without a
// Content-Length, so that only what is received can tell.
func corruptLayers(next http.Handler, bad *sync.Map) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.LastIndex(r.URL.Path, "/blobs/")
		how, ok := bad.Load(r.URL.Path[i+1:])
		if i < 0 || !ok || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		switch how {
		case "flip":
			if len(b) > 0 {
				b[len(b)-1] ^= 0xff
			}
		case "extra":
			b = append(b, 0)
		case "short":
			b = b[:len(b)-1]
		case "recompress":
			b = recompress(b)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if how == "extra" || how == "short" {
			w.Header().Del("Content-Length")
		}
		w.WriteHeader(rec.Code)
		if how == "extra" || how == "short" {
			w.(http.Flusher).Flush() // chunked: no length to check
		}
		w.Write(b)
	})
}

// recompress gzips the content of the gzip blob b anew, to exactly its
// length (a comment in the header makes up the difference).
func recompress(b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	tarBytes, err := io.ReadAll(zr)
	if err != nil {
		panic(err)
	}
	gz := func(comment string) []byte {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		zw.Comment = comment
		zw.Write(tarBytes)
		zw.Close()
		return out.Bytes()
	}
	n := len(gz(""))
	if n >= len(b) {
		panic("recompressed layer is not smaller")
	}
	return gz(strings.Repeat("x", len(b)-n-1)) // the comment ends with a NUL
}

func TestPullRejectsCorruptLayer(t *testing.T) {
	needRoot(t)
	for _, how := range []string{"flip", "extra", "short", "recompress"} {
		t.Run(how, func(t *testing.T) { testPullRejectsCorruptLayer(t, how) })
	}
}

func testPullRejectsCorruptLayer(t *testing.T, how string) {
	ctx := context.Background()
	var bad sync.Map
	host := newRegistry(t, func(h http.Handler) http.Handler { return corruptLayers(h, &bad) })
	src := randomImage(t, 2)
	push(t, host+"/demo/bad:v1", src)
	layers, err := src.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	bad.Store("blobs/"+d.String(), how)
	root := t.TempDir()
	store, err := image.New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Pull(ctx, store, host+"/demo/bad:v1", PullOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), d.String()) {
		t.Fatalf("pull of a corrupt layer: %v", err)
	}
	t.Logf("error: %v", err)
	if how == "recompress" && !strings.Contains(err.Error(), "filesystem layer verification failed for digest "+d.String()) {
		t.Errorf("pull of a recompressed layer: %v, want dockerd's verification error", err)
	}
	if imgs, _ := store.List(ctx); len(imgs) != 0 {
		t.Errorf("images after a failed pull: %d", len(imgs))
	}
	// Only verified layers stay (for the next pull to resume from): never
	// the corrupt one, as a blob or unpacked under its chain.
	cf, err := src.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	diffs := []digest.Digest{digest.Digest(cf.RootFS.DiffIDs[0].String()), digest.Digest(cf.RootFS.DiffIDs[1].String())}
	badDiff, badChain := diffs[1], layer.ChainIDs(diffs)[1]
	if _, err := os.Stat(filepath.Join(root, "content", "blobs", "sha256", badDiff.Encoded())); err == nil {
		t.Error("the corrupt layer was kept after the failed pull")
	}
	if _, err := os.Stat(filepath.Join(root, "overlay", badChain.Encoded())); err == nil {
		t.Error("the corrupt layer was kept unpacked after the failed pull")
	}
	blobs, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
	if len(blobs) > 1 {
		t.Errorf("blobs left after a failed pull: %d, want at most the good layer", len(blobs))
	}
}
