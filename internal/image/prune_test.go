package image

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// importLabelled imports the busybox rootfs with a label, so each call
// makes a distinct image sharing one layer.
func importLabelled(t *testing.T, s *Store, label, tag string) *Image {
	t.Helper()
	ctx := context.Background()
	img, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), []string{"LABEL " + label}, "")
	if err != nil {
		t.Fatal(err)
	}
	if tag != "" {
		if err := s.Tag(ctx, img.ID, tag); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// Untagging the last name of a parent image keeps it (as an intermediate
// image) without an error, as dockerd does.
func TestDeleteLastTagOfParent(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importLabelled(t, s, "a=1", "parent:1")
	createRW(t, s, "c", img)
	if _, err := s.Commit(ctx, "c", img, CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Delete(ctx, "parent:1", false, false, noContainers)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 1 || resp[0].Untagged != "parent:1" {
		t.Errorf("resp = %+v, want only the untag", resp)
	}
	if _, err := s.Resolve(ctx, img.ID.String()); err != nil {
		t.Errorf("parent went: %v", err)
	}
}

func TestPruneFilters(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	old := importLabelled(t, s, "keep=no", "")
	time.Sleep(1100 * time.Millisecond) // Created has second precision in filters
	cut := time.Now()
	time.Sleep(1100 * time.Millisecond)
	young := importLabelled(t, s, "keep=no other=1", "")
	tagged := importLabelled(t, s, "keep=yes", "tagged:1")
	used := importLabelled(t, s, "keep=no used=1", "used:1")
	usedBy := func(id digest.Digest) (string, bool) {
		if id == used.ID {
			return "0123456789abcdef", false
		}
		return "", false
	}
	rep, err := s.Prune(ctx, PruneOptions{Until: cut}, usedBy)
	if err != nil {
		t.Fatal(err)
	}
	if got := deletedIDs(rep.ImagesDeleted); len(got) != 1 || !got[old.ID] {
		t.Errorf("until: deleted %v, want only %s", got, old.ID)
	}
	rep, err = s.Prune(ctx, PruneOptions{All: true, Labels: func(l map[string]string) bool { return l["keep"] == "no" }}, usedBy)
	if err != nil {
		t.Fatal(err)
	}
	if got := deletedIDs(rep.ImagesDeleted); len(got) != 1 || !got[young.ID] {
		t.Errorf("label: deleted %v, want only %s", got, young.ID)
	}
	for _, img := range []*Image{tagged, used} {
		if _, err := s.Resolve(ctx, img.ID.String()); err != nil {
			t.Errorf("%s went: %v", img.ID, err)
		}
	}
	// The shared layer stays while images use it: nothing reclaimed.
	if rep.SpaceReclaimed != 0 {
		t.Errorf("reclaimed %d with the layer still used", rep.SpaceReclaimed)
	}
	rep, err = s.Prune(ctx, PruneOptions{All: true}, noContainers)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SpaceReclaimed == 0 || rep.SpaceReclaimed != uint64(tagged.Size) {
		t.Errorf("reclaimed %d, want the layer's %d", rep.SpaceReclaimed, tagged.Size)
	}
	assertEmptyStore(t, s)
}

func deletedIDs(rs []image.DeleteResponse) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for _, r := range rs {
		if r.Deleted != "" {
			out[digest.Digest(r.Deleted)] = true
		}
	}
	return out
}

func TestSummariesSharedSize(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	a := importLabelled(t, s, "a=1", "a:1")
	b := importLabelled(t, s, "b=1", "b:1")
	sums := s.Summaries([]*Image{a, b}, nil, true)
	for _, sum := range sums {
		if sum.SharedSize != a.Size || sum.Containers != -1 {
			t.Errorf("%s: shared %d containers %d, want %d and -1", sum.ID, sum.SharedSize, sum.Containers, a.Size)
		}
	}
	sums = s.Summaries([]*Image{a}, map[digest.Digest]int64{a.ID: 2}, false)
	if sums[0].SharedSize != -1 || sums[0].Containers != 2 {
		t.Errorf("summary %+v", sums[0])
	}
}

func TestIsSingleReference(t *testing.T) {
	for _, tc := range []struct {
		refs []string
		want bool
	}{
		{nil, false},
		{[]string{"docker.io/library/a:1"}, true},
		{[]string{"docker.io/library/a:1", "docker.io/library/a:2"}, false},
		{[]string{"docker.io/library/a:1", "docker.io/library/a@sha256:" + zeros}, true},
		{[]string{"docker.io/library/a:1", "docker.io/library/b@sha256:" + zeros}, false},
		{[]string{"docker.io/library/a@sha256:" + zeros, "docker.io/library/a@sha256:" + ones}, true},
	} {
		if got := isSingleReference(tc.refs); got != tc.want {
			t.Errorf("isSingleReference(%v) = %v, want %v", tc.refs, got, tc.want)
		}
	}
}

const (
	zeros = "0000000000000000000000000000000000000000000000000000000000000000"
	ones  = "1111111111111111111111111111111111111111111111111111111111111111"
)
