package registry

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestPushPullCatalogTagsDelete walks the everyday workflow: push, pull the
// same digests back, list, delete, then reclaim the blobs.
func TestPushPullCatalogTagsDelete(t *testing.T) {
	root := t.TempDir()
	srv := startServer(t, Options{Root: root})
	img := randomImage(t, 3)
	want := digestOf(t, img)
	for _, tag := range []string{"berth/app:v1", "berth/app:v2", "other:latest"} {
		if err := remote.Write(ref(t, srv, tag), img); err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}

	got, err := remote.Image(ref(t, srv, "berth/app:v1"))
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if d := digestOf(t, got); d != want {
		t.Fatalf("pulled digest %s, pushed %s", d, want)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 3 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}

	reg, _ := name.NewRegistry(srv.Addr().String())
	repos, err := remote.Catalog(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(repos, []string{"berth/app", "other"}) {
		t.Fatalf("catalog = %v", repos)
	}
	repo, _ := name.NewRepository(srv.Addr().String() + "/berth/app")
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Fatalf("tags = %v", tags)
	}

	// Deleting by digest removes every tag pointing at it.
	byDigest := repo.Digest(want.String())
	if err := remote.Delete(byDigest); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = remote.Image(ref(t, srv, "berth/app:v1"))
	assertStatus(t, err, http.StatusNotFound, "MANIFEST_UNKNOWN")
	if tags, err := remote.List(repo); err == nil && len(tags) != 0 {
		t.Fatalf("tags after delete = %v", tags)
	}
	// "other" still references the blobs, so collection keeps them; once
	// it is gone too they are swept.
	blobs := countBlobs(t, root)
	gc(t, root, GCOptions{Quiet: true})
	if n := countBlobs(t, root); n != blobs {
		t.Fatalf("gc removed blobs still referenced: %d -> %d", blobs, n)
	}
	other, _ := name.NewRepository(srv.Addr().String() + "/other")
	if err := remote.Delete(other.Digest(want.String())); err != nil {
		t.Fatal(err)
	}
	gc(t, root, GCOptions{Quiet: true, DryRun: true})
	if n := countBlobs(t, root); n != blobs {
		t.Fatalf("dry run removed blobs: %d -> %d", blobs, n)
	}
	gc(t, root, GCOptions{Quiet: true})
	if n := countBlobs(t, root); n != 0 {
		t.Fatalf("%d blobs left after gc, want 0 (had %d)", n, blobs)
	}
}

func gc(t *testing.T, root string, opts GCOptions) {
	t.Helper()
	cfg, err := Options{Root: root}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := GarbageCollect(context.Background(), cfg, opts); err != nil {
		t.Fatal(err)
	}
}

// countBlobs counts blob data files in a filesystem storage root.
func countBlobs(t *testing.T, root string) int {
	t.Helper()
	n := 0
	dir := filepath.Join(root, "docker/registry/v2/blobs")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && d.Name() == "data" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertStatus checks err is a registry error with this HTTP status and,
// when code is set, this distribution error code.
func assertStatus(t *testing.T, err error, status int, code string) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want HTTP %d", err, status)
	}
	if te.StatusCode != status {
		t.Fatalf("got HTTP %d (%v), want %d", te.StatusCode, err, status)
	}
	if code != "" && !strings.Contains(err.Error(), code) {
		t.Fatalf("error %q lacks %s", err, code)
	}
}
