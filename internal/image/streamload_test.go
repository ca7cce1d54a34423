package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// A load reads the archive once: layers (here one gzipped, one plain)
// arrive before manifest.json and are unpacked as they stream in; a layer
// no image uses may be broken; an OCI blob must match the digest it is
// named by; the loaded layers give their tar back byte for byte (save).
func TestLoadStreams(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base := busyboxTar(t)
	top := makeTar(t, []entry{{hdr: tarHdr("etc/motd"), body: []byte("loaded\n")}})
	baseID, topID := digest.FromBytes(base), digest.FromBytes(top)
	cfg := pulledConfig(t, baseID, topID)
	cfgName := "blobs/sha256/" + digest.FromBytes(cfg).Encoded()
	gz := gzipped(t, top)
	gzName := "blobs/sha256/" + digest.FromBytes(gz).Encoded()
	archive := func(topName string, topBody []byte) []byte {
		man, _ := json.Marshal([]manifestItem{{Config: cfgName, RepoTags: []string{"streamed:v1"},
			Layers: []string{"base/layer.tar", topName}}})
		return makeTar(t, []entry{
			{hdr: tarHdr("base/layer.tar"), body: base},
			{hdr: tarHdr("broken/layer.tar"), body: gzipped(t, []byte("not a tar, and no image uses it"))},
			{hdr: tarHdr(topName), body: topBody},
			{hdr: tarHdr(cfgName), body: cfg},
			{hdr: tarHdr("manifest.json"), body: man},
		})
	}

	// The gzip blob under another blob's name: refused, nothing kept.
	s := newStore(t)
	wrongName := "blobs/sha256/" + digest.FromString("other").Encoded()
	err := s.Load(ctx, bytes.NewReader(archive(wrongName, gz)), func(string) {})
	if !errdefs.IsInvalid(err) {
		t.Fatalf("a blob not matching its name: %v", err)
	}
	assertEmptyStore(t, s)

	var msgs []string
	if err := s.Load(ctx, bytes.NewReader(archive(gzName, gz)), func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve(ctx, "streamed:v1")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("loaded: %v %q", err, msgs)
	}
	if s.content.Has(baseID) || s.content.Has(topID) {
		t.Error("a loaded layer was also written as a blob")
	}
	leftovers, _ := filepath.Glob(filepath.Join(s.root, "overlay", ".unpack-*"))
	spools, _ := filepath.Glob(filepath.Join(s.root, "tmp", "docker-import-*"))
	if len(leftovers)+len(spools) != 0 {
		t.Errorf("left behind: %v %v", leftovers, spools)
	}
	if b, err := os.ReadFile(filepath.Join(s.layers.DiffDir(topChain(img)), "etc", "motd")); err != nil || string(b) != "loaded\n" {
		t.Fatalf("top layer: %q %v", b, err)
	}

	// A build step may take a loaded layer (--cache-from): on the same
	// parents it is there already; on others it is unpacked again from
	// the tar the loaded layer recorded.
	for _, l := range []digest.Digest{baseID, topID} {
		step, err := s.CommitStep(ctx, nil, StepOptions{Layer: l, History: ocispecHistory("cached")})
		if err != nil {
			t.Fatalf("step with loaded layer %s: %v", l, err)
		}
		if !s.layers.Has(step.Layers[0]) {
			t.Fatalf("layer %s not unpacked for the step", l)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.layers.DiffDir(topID), "etc", "motd")); err != nil || string(b) != "loaded\n" {
		t.Fatalf("top layer unpacked on its own: %q %v", b, err)
	}

	// Save gives the layers back as they came (uncompressed), and a
	// store that loads the save has the same image.
	var saved bytes.Buffer
	if err := s.Save(ctx, []string{"streamed:v1"}, &saved); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(saved.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got[h.Name], _ = io.ReadAll(tr)
	}
	if !bytes.Equal(got["blobs/sha256/"+baseID.Encoded()], base) || !bytes.Equal(got["blobs/sha256/"+topID.Encoded()], top) {
		t.Fatal("save did not give the loaded layers back byte for byte")
	}
	s2 := newStore(t)
	if err := s2.Load(ctx, bytes.NewReader(saved.Bytes()), func(string) {}); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Resolve(ctx, "streamed:v1"); err != nil || got.ID != img.ID {
		t.Fatalf("reloaded: %v %v", got, err)
	}
}

func ocispecHistory(by string) ocispec.History { return ocispec.History{CreatedBy: by} }

func topChain(img *Image) digest.Digest {
	return digest.FromString(img.Layers[0].String() + " " + img.Layers[1].String())
}

// A layer with a path under a fifo it made is refused before the fifo's
// child reaches the unpacker (go-archive's whiteout handling blocked
// forever opening such a fifo).
func TestLoadRefusesPathsUnderNonDirectories(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	var lb bytes.Buffer
	tw := tar.NewWriter(&lb)
	tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeFifo, Mode: 0o644})
	tw.WriteHeader(&tar.Header{Name: "a/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	l := lb.Bytes()
	cfg := pulledConfig(t, digest.FromBytes(l))
	man, _ := json.Marshal([]manifestItem{{Config: "config.json", Layers: []string{"l/layer.tar"}}})
	arch := makeTar(t, []entry{
		{hdr: tarHdr("l/layer.tar"), body: l},
		{hdr: tarHdr("config.json"), body: cfg},
		{hdr: tarHdr("manifest.json"), body: man},
	})
	s := newStore(t)
	done := make(chan error, 1)
	go func() { done <- s.Load(ctx, bytes.NewReader(arch), func(string) {}) }()
	select {
	case err := <-done:
		if !errdefs.IsInvalid(err) {
			t.Fatalf("load: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("load hangs")
	}
	assertEmptyStore(t, s)
}

// A plain (uncompressed) layer is hashed once, its digest serving as both
// its diff ID and its blob digest: an OCI blob name must still match it,
// whatever follows the tar's end marker included.
func TestLoadPlainLayerBlobName(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	l := makeTar(t, []entry{{hdr: tarHdr("etc/motd"), body: []byte("plain\n")}})
	l = append(l, make([]byte, 3072)...) // padding after the end marker, as some writers add
	id := digest.FromBytes(l)
	cfg := pulledConfig(t, id)
	archive := func(name string) []byte {
		man, _ := json.Marshal([]manifestItem{{Config: "config.json", RepoTags: []string{"plain:v1"}, Layers: []string{name}}})
		return makeTar(t, []entry{
			{hdr: tarHdr(name), body: l},
			{hdr: tarHdr("config.json"), body: cfg},
			{hdr: tarHdr("manifest.json"), body: man},
		})
	}
	s := newStore(t)
	err := s.Load(ctx, bytes.NewReader(archive("blobs/sha256/"+digest.FromString("other").Encoded())), func(string) {})
	if !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "content digest mismatch") {
		t.Fatalf("a plain layer under another blob's name: %v", err)
	}
	assertEmptyStore(t, s)
	if err := s.Load(ctx, bytes.NewReader(archive("blobs/sha256/"+id.Encoded())), func(string) {}); err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve(ctx, "plain:v1")
	if err != nil || len(img.Layers) != 1 || img.Layers[0] != id {
		t.Fatalf("loaded: %v %v", img, err)
	}
	rc, _, err := s.openLayerTar(id, id)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, l) {
		t.Fatalf("the layer's tar given back: %d bytes, %v", len(back), err)
	}
}
