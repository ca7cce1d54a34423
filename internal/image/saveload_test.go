package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	if err := s.Tag(ctx, img.ID, "busybox:1"); err != nil {
		t.Fatal(err)
	}
	createRW(t, s, "c", img)
	changeRW(t, s, "c")
	child, err := s.Commit(ctx, "c", img, CommitOptions{Comment: "child"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, child.ID, "mytest/child:t1"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Save(ctx, []string{"busybox:1", child.ID.Encoded()[:12], "mytest/child:t1"}, &buf); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, bytes.NewReader(buf.Bytes()))
	for _, n := range []string{"index.json", "manifest.json", "oci-layout", "repositories",
		"blobs/sha256/" + img.ID.Encoded(), "blobs/sha256/" + child.Layers[1].Encoded()} {
		if !names[n] {
			t.Errorf("archive lacks %s", n)
		}
	}
	s2 := newStore(t)
	var msgs []string
	if err := s2.Load(ctx, bytes.NewReader(buf.Bytes()), func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(msgs, "|") != "Loaded image: busybox:1|Loaded image: mytest/child:t1" {
		t.Errorf("messages %q", msgs)
	}
	for ref, id := range map[string]string{"busybox:1": img.ID.String(), "mytest/child:t1": child.ID.String()} {
		got, err := s2.Resolve(ctx, ref)
		if err != nil || got.ID.String() != id {
			t.Errorf("%s after load: %v %v", ref, got, err)
		}
	}
	// Loading twice is harmless and shares everything.
	if err := s2.Load(ctx, bytes.NewReader(buf.Bytes()), func(string) {}); err != nil {
		t.Fatal(err)
	}
	if imgs, _ := s2.List(ctx); len(imgs) != 2 {
		t.Errorf("images after second load: %d", len(imgs))
	}
}

func TestLoadRejectsBadArchives(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	var good bytes.Buffer
	if err := s.Save(ctx, []string{img.ID.String()}, &good); err != nil {
		t.Fatal(err)
	}
	// A manifest naming a layer that does not match the config's diff ID.
	man, _ := json.Marshal([]manifestItem{{Config: "blobs/sha256/" + img.ID.Encoded(),
		Layers: []string{"evil"}}})
	bad := makeTar(t, []entry{
		{hdr: tarHdr("blobs/sha256/" + img.ID.Encoded()), body: mustRead(t, s, img)},
		{hdr: tarHdr("evil"), body: makeTar(t, []entry{{hdr: tarHdr("x"), body: []byte("y")}})},
		{hdr: tarHdr("manifest.json"), body: man},
	})
	unsafe := makeTar(t, []entry{{hdr: tarHdr("../escape"), body: []byte("x")}})
	for name, arch := range map[string][]byte{"diffid mismatch": bad, "unsafe path": unsafe} {
		s2 := newStore(t)
		if err := s2.Load(ctx, bytes.NewReader(arch), func(string) {}); err == nil {
			t.Errorf("%s: loaded", name)
		}
		assertEmptyStore(t, s2)
	}
}

// A plain OCI layout (our save without manifest.json) loads via index.json.
func TestLoadOCILayout(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	if err := s.Tag(ctx, img.ID, "oci/only:v2"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Save(ctx, []string{"oci/only:v2"}, &buf); err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	tr, tw := tar.NewReader(&buf), tar.NewWriter(&kept)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "manifest.json" {
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.Close()
	s2 := newStore(t)
	var msgs []string
	if err := s2.Load(ctx, &kept, func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Resolve(ctx, "oci/only:v2")
	if err != nil || got.ID != img.ID || len(msgs) != 1 || msgs[0] != "Loaded image: oci/only:v2" {
		t.Errorf("loaded %v %v %q", got, err, msgs)
	}
}
