package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A directory removed and re-created in a container becomes an opaque dir
// in the upper layer; the commit must carry that so the old content stays
// hidden in the new image.
func TestOpaqueDirSurvivesCommit(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	createRW(t, s, "c", img)
	root, err := s.Mount(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(root, "etc")
	if err := os.RemoveAll(etc); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	child, err := s.Commit(ctx, "c", img, CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.content.Open(child.Layers[1])
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, f)
	f.Close()
	if !names["etc/.wh..wh..opq"] && !names["etc/.wh.passwd"] {
		t.Errorf("no whiteout for the old /etc content: %v", names)
	}
	createRW(t, s, "c2", child)
	root2, err := s.Mount(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "c2") })
	if _, err := os.Lstat(filepath.Join(root2, "etc", "passwd")); !os.IsNotExist(err) {
		t.Errorf("old /etc/passwd visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root2, "etc", "x")); err != nil {
		t.Error(err)
	}
	// Removing the containers and then the image leaves nothing behind.
	for _, id := range []string{"c2", "c"} {
		if err := s.RemoveRW(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting the child prunes its untagged parent too, as in Docker.
	resp, err := s.Delete(ctx, child.ID.String(), false, false, noContainers)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) < 2 || resp[0].Deleted != child.ID.String() {
		t.Errorf("delete response %+v", resp)
	}
	assertEmptyStore(t, s)
}
