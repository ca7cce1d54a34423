package image

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// pulledConfig is a config naming layers by diff ID, as a registry serves it.
func pulledConfig(t *testing.T, diffIDs ...digest.Digest) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIngestCommit(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	base := busyboxTar(t)
	top := makeTar(t, []entry{{hdr: tarHdr("etc/motd"), body: []byte("pulled\n")}})
	baseID, topID := digest.FromBytes(base), digest.FromBytes(top)

	in := s.NewIngest()
	t.Cleanup(func() { in.Close(ctx) })
	if err := in.Layer(ctx, bytes.NewReader(top), baseID); !errdefs.IsInvalid(err) {
		t.Fatalf("layer under the wrong diff id: %v", err)
	}
	if in.HasLayer(baseID) {
		t.Fatal("HasLayer before the layer was stored")
	}
	for _, l := range [][]byte{top, base} { // order of arrival is free
		if err := in.Layer(ctx, bytes.NewReader(l), digest.FromBytes(l)); err != nil {
			t.Fatal(err)
		}
	}
	var extracted []int
	img, err := in.Commit(ctx, pulledConfig(t, baseID, topID), func(i int) { extracted = append(extracted, i) })
	if err != nil {
		t.Fatal(err)
	}
	if len(extracted) != 2 || extracted[0] != 0 || extracted[1] != 1 {
		t.Errorf("extracted %v, want [0 1]", extracted)
	}
	if !s.Has(img.ID) || len(img.Layers) != 2 || img.Size == 0 {
		t.Fatalf("image %+v", img)
	}
	in.Close(ctx)

	// A second ingest finds the layers and leaves them alone on Close.
	in2 := s.NewIngest()
	if !in2.HasLayer(baseID) || !in2.HasLayer(topID) {
		t.Fatal("stored layers not found")
	}
	in2.Close(ctx)
	if !s.content.Has(baseID) || !s.content.Has(topID) {
		t.Fatal("Close dropped layers an image uses")
	}
}

func TestIngestCloseDropsUnused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l := makeTar(t, []entry{{hdr: tarHdr("a"), body: []byte("x")}})
	in := s.NewIngest()
	if err := in.Layer(ctx, bytes.NewReader(l), digest.FromBytes(l)); err != nil {
		t.Fatal(err)
	}
	if !s.content.Has(digest.FromBytes(l)) {
		t.Fatal("layer not stored")
	}
	// The config names a layer that never arrived: nothing is registered.
	missing := digest.FromString("missing")
	if _, err := in.Commit(ctx, pulledConfig(t, missing), nil); !errdefs.IsInvalid(err) {
		t.Fatalf("commit without its layer: %v", err)
	}
	in.Close(ctx)
	// The verified layer stays for the next pull to resume from...
	if !s.content.Has(digest.FromBytes(l)) {
		t.Error("an abandoned pull lost the layer it had verified")
	}
	next := s.NewIngest()
	if !next.HasLayer(digest.FromBytes(l)) {
		t.Error("the next pull does not find the kept layer")
	}
	next.Close(ctx)
	ents, _ := os.ReadDir(filepath.Join(s.root, "image", "images"))
	if len(ents) != 0 {
		t.Errorf("records left: %v", ents)
	}
	// ...until a prune gives it up.
	if _, err := s.Prune(ctx, PruneOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if s.content.Has(digest.FromBytes(l)) {
		t.Error("prune kept a layer no image uses")
	}
}

func TestAddDigest(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	dg := "sha256:" + digest.FromString("manifest").Encoded()
	if err := s.Tag(ctx, img.ID, "demo/bb:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, img.ID, "other/bb:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDigest(ctx, img.ID, "demo/bb@"+dg); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDigest(ctx, img.ID, "demo/bb:v2"); !errdefs.IsInvalid(err) {
		t.Errorf("tag given as digest: %v", err)
	}
	got, err := s.Resolve(ctx, "demo/bb@"+dg)
	if err != nil || got.ID != img.ID {
		t.Fatalf("resolve by digest: %v", err)
	}
	if len(got.RepoTags) != 2 || len(got.RepoDigests) != 1 || got.RepoDigests[0] != "demo/bb@"+dg {
		t.Fatalf("names: tags %v digests %v", got.RepoTags, got.RepoDigests)
	}
	// The repository's last tag takes its digest with it; the image stays
	// because another repository still names it.
	resp, err := s.Delete(ctx, "demo/bb:v1", false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 2 || resp[0].Untagged != "demo/bb:v1" || resp[1].Untagged != "demo/bb@"+dg {
		t.Fatalf("delete: %+v", resp)
	}
	if got, err := s.Resolve(ctx, "other/bb:v1"); err != nil || len(got.RepoDigests) != 0 {
		t.Fatalf("after untag: %v %+v", err, got)
	}
}

// A store opened on a root with an unreferenced blob (a crash mid-load)
// collects it; layers kept for resuming pulls stay.
func TestNewCollectsGarbage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	kept := makeTar(t, []entry{{hdr: tarHdr("k"), body: []byte("kept")}})
	in := s.NewIngest()
	if err := in.Layer(ctx, bytes.NewReader(kept), digest.FromBytes(kept)); err != nil {
		t.Fatal(err)
	}
	in.Close(ctx)
	stray := []byte("stray blob")
	w, err := s.content.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(stray)
	if _, err := w.Commit(""); err != nil {
		t.Fatal(err)
	}
	s2, err := New(ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	if s2.content.Has(digest.FromBytes(stray)) {
		t.Error("an unreferenced blob survived the restart")
	}
	if !s2.content.Has(digest.FromBytes(kept)) {
		t.Error("a layer kept for resuming was collected")
	}
}
