package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An image deeper than fits in the overlay mount options with full paths
// still mounts (through the short layer names), and every layer shows.
func TestDeepImageMounts(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	const n = 70
	var entries []entry
	var cf configFile
	created := time.Unix(1700000000, 0).UTC()
	cf.Created = &created
	cf.Platform = ocispec.Platform{Architecture: "amd64", OS: "linux"}
	cf.RootFS.Type = "layers"
	var item manifestItem
	for i := 0; i < n; i++ {
		lt := makeTar(t, []entry{{hdr: tarHdr(fmt.Sprintf("f%02d", i)), body: []byte{byte(i)}}})
		name := fmt.Sprintf("layer%02d.tar", i)
		entries = append(entries, entry{hdr: tarHdr(name), body: lt})
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, digest.FromBytes(lt))
		cf.History = append(cf.History, ocispec.History{Created: &created})
		item.Layers = append(item.Layers, name)
	}
	raw, _ := json.Marshal(cf)
	item.Config, item.RepoTags = "config.json", []string{"deep:1"}
	man, _ := json.Marshal([]manifestItem{item})
	entries = append(entries, entry{hdr: tarHdr("config.json"), body: raw}, entry{hdr: tarHdr("manifest.json"), body: man})
	s := newStore(t)
	if err := s.Load(ctx, bytes.NewReader(makeTar(t, entries)), func(string) {}); err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve(ctx, "deep:1")
	if err != nil {
		t.Fatal(err)
	}
	createRW(t, s, "deep", img)
	root, err := s.Mount(ctx, "deep")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "deep") })
	for i := 0; i < n; i++ {
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if wd, _ := os.Getwd(); filepath.Base(wd) != "image" {
		t.Errorf("process working directory changed to %s", wd)
	}
}
