package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

func noContainers(digest.Digest) (string, bool) { return "", false }

type deleteSetup struct {
	tags   []string
	usedBy func(digest.Digest) (string, bool)
}

type deleteCase struct {
	name     string
	setup    deleteSetup
	ref      string // "ID" = the full id, "SHORT" = 12 chars
	force    bool
	wantErr  string // SHORT is replaced by the short id
	untagged []string
	deleted  bool
}

func stoppedUser(digest.Digest) (string, bool) { return "0123456789abcdef", false }
func runningUser(digest.Digest) (string, bool) { return "0123456789abcdef", true }

var deleteCases = []deleteCase{
	{name: "by name, last tag", setup: deleteSetup{tags: []string{"busybox"}}, ref: "busybox",
		untagged: []string{"busybox:latest"}, deleted: true},
	{name: "by name, several tags", setup: deleteSetup{tags: []string{"busybox", "other:1"}}, ref: "busybox",
		untagged: []string{"busybox:latest"}},
	{name: "by id, one tag", setup: deleteSetup{tags: []string{"busybox:1"}}, ref: "SHORT",
		untagged: []string{"busybox:1"}, deleted: true},
	// dockerd 20.10: two tags of one repository are two references too.
	{name: "by id, two tags of one repo", setup: deleteSetup{tags: []string{"busybox:1", "busybox:2"}}, ref: "SHORT",
		wantErr: "conflict: unable to delete SHORT (must be forced) - image is referenced in multiple repositories"},
	{name: "by id, tag used by stopped container", setup: deleteSetup{tags: []string{"busybox:1"}, usedBy: stoppedUser}, ref: "SHORT",
		wantErr: "conflict: unable to delete SHORT (must be forced) - image is being used by stopped container 0123456789ab"},
	{name: "by id, several repos", setup: deleteSetup{tags: []string{"busybox", "other:1"}}, ref: "SHORT",
		wantErr: "conflict: unable to delete SHORT (must be forced) - image is referenced in multiple repositories"},
	{name: "by id, several repos, forced", setup: deleteSetup{tags: []string{"busybox", "other:1"}}, ref: "ID", force: true,
		untagged: []string{"busybox:latest", "other:1"}, deleted: true},
	{name: "stopped container", setup: deleteSetup{usedBy: stoppedUser}, ref: "ID",
		wantErr: "conflict: unable to delete SHORT (must be forced) - image is being used by stopped container 0123456789ab"},
	{name: "stopped container, forced", setup: deleteSetup{usedBy: stoppedUser}, ref: "ID", force: true, deleted: true},
	{name: "running container, forced", setup: deleteSetup{usedBy: runningUser}, ref: "ID", force: true,
		wantErr: "conflict: unable to delete SHORT (cannot be forced) - image is being used by running container 0123456789ab"},
	{name: "name used by container", setup: deleteSetup{tags: []string{"busybox"}, usedBy: stoppedUser}, ref: "busybox",
		wantErr: `conflict: unable to remove repository reference "busybox" (must force) - container 0123456789ab is using its referenced image SHORT`},
	{name: "missing", ref: "nothere", wantErr: "No such image: nothere:latest"},
}

func TestDelete(t *testing.T) {
	needRoot(t)
	bb := busyboxTar(t)
	for _, tc := range deleteCases {
		t.Run(tc.name, func(t *testing.T) { runDeleteCase(t, bb, tc) })
	}
}

func runDeleteCase(t *testing.T, bb []byte, tc deleteCase) {
	ctx := context.Background()
	s := newStore(t)
	img, err := s.Import(ctx, bytes.NewReader(bb), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tc.setup.tags {
		if err := s.Tag(ctx, img.ID, tag); err != nil {
			t.Fatal(err)
		}
	}
	used := tc.setup.usedBy
	if used == nil {
		used = noContainers
	}
	short := img.ID.Encoded()[:12]
	ref := map[string]string{"ID": img.ID.String(), "SHORT": short}[tc.ref]
	if ref == "" {
		ref = tc.ref
	}
	resp, err := s.Delete(ctx, ref, tc.force, false, used)
	if tc.wantErr != "" {
		want := bytesReplace(tc.wantErr, "SHORT", short)
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %s", err, want)
		}
		if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
			t.Errorf("error class: %v", err)
		}
		// A refused delete leaves every name in place.
		if got, _ := s.Resolve(ctx, img.ID.String()); got != nil && len(got.RepoTags) != len(tc.setup.tags) {
			t.Errorf("names after a refused delete: %v, want %v", got.RepoTags, tc.setup.tags)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	checkDeleteResponse(t, resp, tc.untagged, tc.deleted, img)
	_, rerr := s.Resolve(ctx, img.ID.String())
	if tc.deleted != errdefs.IsNotFound(rerr) {
		t.Errorf("after delete: %v", rerr)
	}
	if tc.deleted {
		assertEmptyStore(t, s)
	}
}

func bytesReplace(s, old, new string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(old), []byte(new)))
}

func checkDeleteResponse(t *testing.T, resp []image.DeleteResponse, untagged []string, deleted bool, img *Image) {
	t.Helper()
	var gotU []string
	gotD := false
	for _, r := range resp {
		if r.Untagged != "" {
			gotU = append(gotU, r.Untagged)
		}
		if r.Deleted == img.ID.String() {
			gotD = true
		}
	}
	if len(gotU) != len(untagged) {
		t.Errorf("untagged %v, want %v", gotU, untagged)
	}
	for _, u := range untagged {
		found := false
		for _, g := range gotU {
			found = found || g == u
		}
		if !found {
			t.Errorf("untagged %v, want %v", gotU, untagged)
		}
	}
	if gotD != deleted {
		t.Errorf("deleted = %v, want %v (%+v)", gotD, deleted, resp)
	}
}

// assertEmptyStore checks that no blob, layer or record is left.
func assertEmptyStore(t *testing.T, s *Store) {
	t.Helper()
	for _, d := range []string{"content/blobs/sha256", "overlay", "overlay/l", "image/images"} {
		ents, err := os.ReadDir(filepath.Join(s.root, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if d == "overlay" && len(ents) == 1 && ents[0].Name() == "l" {
			continue // the short-name dir itself stays
		}
		if len(ents) != 0 {
			t.Errorf("%s not empty: %v", d, ents)
		}
	}
}

func TestDeleteKeepsLayerUsedByContainer(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	createRW(t, s, "c", img)
	if _, err := s.Delete(ctx, img.ID.String(), true, false, noContainers); err != nil {
		t.Fatal(err)
	}
	root, err := s.Mount(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "c") })
	if _, err := os.Stat(filepath.Join(root, "bin", "busybox")); err != nil {
		t.Errorf("layer of a used image was removed: %v", err)
	}
}

func TestPrune(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	a := importBusybox(t, s)
	b, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), nil, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, b.ID, "keep"); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Prune(ctx, PruneOptions{}, noContainers)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ImagesDeleted) != 1 || rep.ImagesDeleted[0].Deleted != a.ID.String() {
		t.Errorf("prune: %+v", rep)
	}
	if _, err := s.Resolve(ctx, "keep"); err != nil {
		t.Error(err)
	}
}

func TestDeleteParentWithChild(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	createRW(t, s, "c", img)
	child, err := s.Commit(ctx, "c", img, CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Delete(ctx, img.ID.String(), true, false, noContainers)
	want := "conflict: unable to delete " + img.ID.Encoded()[:12] + " (cannot be forced) - image has dependent child images"
	if err == nil || err.Error() != want || !errdefs.IsConflict(err) {
		t.Errorf("err = %v", err)
	}
	// noPrune keeps the untagged parent.
	if _, err := s.Delete(ctx, child.ID.String(), false, true, noContainers); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, img.ID.String()); err != nil {
		t.Errorf("parent pruned despite noPrune: %v", err)
	}
}
