package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

func TestImportResolve(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	if len(img.Layers) != 1 || img.Config.Config.Cmd[0] != "sh" {
		t.Fatalf("layers %v cmd %v", img.Layers, img.Config.Config.Cmd)
	}
	if img.Config.History[0].Comment != "Imported from -" {
		t.Fatalf("history %+v", img.Config.History)
	}
	if err := s.Tag(ctx, img.ID, "busybox"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, img.ID, "docker.io/mytest/bb:t1"); err != nil {
		t.Fatal(err)
	}
	hex := img.ID.Encoded()
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "mytest/bb:t1",
		img.ID.String(), hex, hex[:12], hex[:4]} {
		got, err := s.Resolve(ctx, ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Resolve(%q) = %v, %v", ref, got, err)
		}
	}
	got, _ := s.Resolve(ctx, "busybox")
	if strings.Join(got.RepoTags, ",") != "busybox:latest,mytest/bb:t1" {
		t.Errorf("RepoTags %v", got.RepoTags)
	}
	if _, err := s.Resolve(ctx, "nope"); !errdefs.IsNotFound(err) || err.Error() != "No such image: nope" {
		t.Errorf("missing: %v", err)
	}
	if err := s.Tag(ctx, img.ID, "BAD"); !errdefs.IsInvalid(err) {
		t.Errorf("bad tag: %v", err)
	}
	// A fresh store sees the same index.
	s2, err := New(ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Resolve(ctx, "mytest/bb:t1"); err != nil || got.ID != img.ID || got.Size == 0 {
		t.Errorf("reopened: %v %v", got, err)
	}
	insp, err := s.Inspect(ctx, got)
	if err != nil || insp.RootFS.Layers[0] != img.Layers[0].String() || insp.GraphDriver.Name != "overlay2" || insp.Comment != "Imported from -" {
		t.Errorf("inspect %+v %v", insp, err)
	}
	h, err := s.History(ctx, got)
	if err != nil || len(h) != 1 || h[0].ID != img.ID.String() || h[0].Comment != "Imported from -" {
		t.Errorf("history %+v %v", h, err)
	}
}

func TestCommitAndWhiteout(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	createRW(t, s, "c1", img)
	root, err := s.Mount(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc", "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, s, "c1", map[string]container.ChangeType{"/hello": container.ChangeAdd, "/etc": container.ChangeModify,
		"/etc/new": container.ChangeAdd, "/etc/passwd": container.ChangeDelete})
	if err := s.Unmount(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	cimg, err := s.Commit(ctx, "c1", img, CommitOptions{Config: &container.Config{Cmd: []string{"cat", "/hello"}},
		Comment: "snap", Author: "me", ContainerID: "c1", Changes: []string{"ENV A=b", "EXPOSE 80"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cimg.Layers) != 2 || cimg.Parent != img.ID || cimg.container != "c1" || cimg.Config.Config.Env[0] != "A=b" {
		t.Fatalf("commit %+v", cimg)
	}
	if _, ok := cimg.Config.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("expose: %v", cimg.Config.Config.ExposedPorts)
	}
	f, err := s.content.Open(cimg.Layers[1])
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, f)
	f.Close()
	for _, n := range []string{"hello", "etc/.wh.passwd", "etc/new"} {
		if !names[n] {
			t.Errorf("committed layer lacks %s: %v", n, names)
		}
	}
	createRW(t, s, "c2", cimg)
	root2, err := s.Mount(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "c2") })
	if b, err := os.ReadFile(filepath.Join(root2, "hello")); err != nil || string(b) != "hi\n" {
		t.Errorf("hello in new container: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(root2, "etc", "passwd")); !os.IsNotExist(err) {
		t.Errorf("deleted file came back: %v", err)
	}
	h, err := s.History(ctx, cimg)
	if err != nil || len(h) != 2 || h[0].Comment != "snap" || h[1].ID != img.ID.String() {
		t.Errorf("history %+v %v", h, err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, "c2", &buf); err != nil {
		t.Fatal(err)
	}
	ex := tarNames(t, &buf)
	if !ex["hello"] || !ex["bin/busybox"] || ex["etc/passwd"] {
		t.Errorf("export: %v", ex)
	}
}

func TestLayersShared(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s)
	img2, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), nil, "other")
	if err != nil {
		t.Fatal(err)
	}
	if img2.ID == img.ID || img2.Layers[0] != img.Layers[0] {
		t.Fatalf("same layer, different configs expected: %v %v", img.ID, img2.ID)
	}
	createRW(t, s, "a", img)
	createRW(t, s, "b", img2)
	ra, err := s.Mount(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "a") })
	rb, err := s.Mount(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "b") })
	if _, err := os.Stat(filepath.Join(ra, "bin/busybox")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(rb, "bin/busybox")); err != nil {
		t.Error(err)
	}
	chains, _ := s.layers.Layers()
	if len(chains) != 1 {
		t.Errorf("want one unpacked layer, got %v", chains)
	}
	// The refcount keeps a second Mount from stacking a second overlay.
	if _, err := s.Mount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount(ctx, "a"); err != nil || !s.layers.IsMounted("a") {
		t.Errorf("refcounted unmount: %v mounted=%v", err, s.layers.IsMounted("a"))
	}
}

func TestScratchContainer(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	createRW(t, s, "empty", nil)
	root, err := s.Mount(ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount(context.Background(), "empty") })
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) != 0 {
		t.Errorf("scratch rootfs: %v %v", ents, err)
	}
}

func checkChanges(t *testing.T, s *Store, id string, want map[string]container.ChangeType) {
	t.Helper()
	ch, err := s.Changes(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != len(want) {
		t.Errorf("changes %+v", ch)
	}
	for _, c := range ch {
		if k, ok := want[c.Path]; !ok || k != c.Kind {
			t.Errorf("change %+v unexpected", c)
		}
	}
}
