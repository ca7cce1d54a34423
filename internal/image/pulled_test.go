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
	if s.content.Has(digest.FromBytes(l)) {
		t.Error("an abandoned pull left its layer behind")
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "image", "images"))
	if len(ents) != 0 {
		t.Errorf("records left: %v", ents)
	}
}
