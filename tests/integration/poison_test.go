package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrempty "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A registry serves a layer whose tar is complete but whose content does
// not match the diff ID its config names (the blob's own digest is right).
// While that pull stalls after the tar's end, a pull of an honest image
// with the same layer runs: it must get the honest content, and the bad
// content must never become the stored layer.
func TestPullLayerPoisoning(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	fileTar := func(content string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: "poison.txt", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1700000000, 0)})
		tw.Write([]byte(content))
		tw.Close()
		return b.Bytes()
	}
	layerOf := func(b []byte) v1.Layer {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := layerOf(env.tarData)
	// Uncompressed layers: the tar's end-of-archive comes before the
	// blob's last bytes (extra zero records), with no decompressor holding
	// output back.
	good := static.NewLayer(fileTar("honest-content\n"), types.DockerUncompressedLayer)
	evil := static.NewLayer(append(fileTar("poisoned-content\n"), make([]byte, 4096)...), types.DockerUncompressedLayer)
	mk := func(top v1.Layer, diffIDs []v1.Hash) v1.Image {
		img, err := mutate.AppendLayers(ggcrempty.Image, base, top)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Config.Cmd = []string{"sh"}
		cf.OS, cf.Architecture = "linux", "amd64"
		if diffIDs != nil {
			cf.RootFS.DiffIDs = diffIDs
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		return img
	}
	goodImg := mk(good, nil)
	baseID, _ := base.DiffID()
	goodID, _ := good.DiffID()
	evilImg := mk(evil, []v1.Hash{baseID, goodID}) // claims the honest diff ID
	evilDigest, _ := evil.Digest()

	stalled := make(chan struct{}, 1)
	release := make(chan struct{})
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+evilDigest.String()) {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		// Everything but the last zero record: the tar has ended, the blob has not.
		w.Write(body[:len(body)-512])
		w.(http.Flusher).Flush()
		select {
		case stalled <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(60 * time.Second):
		}
		w.Write(body[len(body)-512:])
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	push := func(ref string, img v1.Image) {
		writeImage(t, ref, img)
	}
	evilRef, goodRef := host+"/demo/evil:v1", host+"/demo/good:v1"
	push(evilRef, evilImg)
	push(goodRef, goodImg)
	dr := env.drivers[0]
	t.Cleanup(func() {
		dr.Run(context.Background(), nil, "rmi", "-f", evilRef)
		dr.Run(context.Background(), nil, "rmi", "-f", goodRef)
	})
	var visibleDuringStall []string
	evilDone := make(chan testutil.Result, 1)
	go func() { evilDone <- dr.Run(context.Background(), nil, "pull", evilRef) }()
	select {
	case <-stalled:
	case r := <-evilDone:
		t.Fatalf("the bad pull ended before the stall: %s", r)
	case <-time.After(60 * time.Second):
		t.Fatal("the bad blob was never requested")
	}
	time.Sleep(500 * time.Millisecond) // let the unpack reach the tar's end
	// The bad layer is not in the store while its check is pending.
	if ents, err := os.ReadDir(filepath.Join(env.daemon.Root, "overlay")); err == nil {
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "l" {
				visibleDuringStall = append(visibleDuringStall, e.Name())
			}
		}
	}
	goodPull := dr.Run(context.Background(), nil, "pull", goodRef)
	close(release)
	evilRes := <-evilDone
	if goodPull.Code != 0 {
		t.Fatalf("honest pull: %s", goodPull)
	}
	if evilRes.Code == 0 {
		t.Errorf("the pull of a layer that does not match its diff ID succeeded: %s", evilRes)
	}
	got := dr.Run(context.Background(), nil, runArgs("--rm", goodRef, "cat", "/poison.txt")...)
	topChain := sha256.Sum256([]byte(baseID.String() + " " + goodID.String()))
	for _, l := range visibleDuringStall {
		if l == hex.EncodeToString(topChain[:]) {
			t.Errorf("the unverified layer was in the store (overlay/%s) while its blob was still arriving", l)
		}
	}
	if got.Out() != "honest-content" {
		t.Fatalf("the honest image runs with %q: the bad layer was kept for its chain", got.Out())
	}
}
