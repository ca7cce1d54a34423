package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/hostiletar"
	"github.com/berth-project/berth/tests/testutil"
)

// TestHostileArchives feeds every archive of the hostile corpus to each API
// that unpacks a tar: image import, image load (as a layer of a valid
// archive), docker cp (PUT archive), a build context, and ADD of a local
// tar in a Dockerfile. Whatever the daemon decides, nothing may be written
// outside its root (a directory beside the test aims the absolute escapes,
// /tmp/berth-hostile-pwned the relative ones), and a refusal is a client
// error (4xx, or an error in the stream), never a 500.
func TestHostileArchives(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	outside := t.TempDir()
	// berthd refuses an escaping archive with a client error; dockerd
	// 20.10 clamps its paths into the root and takes it, and answers some
	// bad archives with 500. Only berthd's refusals are asserted; nothing
	// written outside is asserted of both.
	refuses := env.daemon.Target == testutil.TargetBerthd
	api, err := env.daemon.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := newCase(t, env.drivers[0])
	target := c.name("hostile-cp")
	c.ok(createArgs("--name", target, "busybox", "true")...)
	t.Cleanup(func() { c.run("rm", "-f", target) })

	check := func(t *testing.T, what string, status int, body []byte) {
		t.Helper()
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			for _, e := range ents {
				os.RemoveAll(filepath.Join(outside, e.Name()))
			}
			t.Fatalf("%s wrote outside the root: %v", what, ents)
		}
		if _, err := os.Lstat("/tmp/berth-hostile-pwned"); err == nil {
			os.Remove("/tmp/berth-hostile-pwned")
			t.Fatalf("%s wrote /tmp/berth-hostile-pwned", what)
		}
		if status >= 500 && refuses {
			t.Errorf("%s: server error %d: %s", what, status, body)
		}
	}
	// send makes one call through the client and returns its status and
	// body: 200 and the stream, or the refusal's status and message.
	send := func(t *testing.T, what string, call func(ctx context.Context) (io.ReadCloser, error)) (int, []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		rc, err := call(ctx)
		var b []byte
		status := http.StatusOK
		if err == nil {
			b, _ = io.ReadAll(rc)
			rc.Close()
		} else if status = client.StatusOf(err); status == 0 {
			t.Fatalf("%s: %v", what, err)
		} else {
			b = []byte(err.Error())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("%s took %v", what, d.Round(time.Millisecond))
		}
		if len(b) > 400 {
			b = append(b[:400:400], "..."...)
		}
		return status, b
	}

	for i, hc := range hostiletar.Corpus(outside) {
		t.Run(hc.Name, func(t *testing.T) {
			repo := fmt.Sprintf("hostile-%d", i)
			defer c.run("rmi", "-f", repo+":import", repo+":load", repo+":add")

			st, b := send(t, "import", func(ctx context.Context) (io.ReadCloser, error) {
				return api.ImageImport(ctx, "-", bytes.NewReader(hc.Tar), client.ImageImportOptions{Repo: repo + ":import"})
			})
			check(t, "import", st, b)
			if refuses && hc.Escape && st < 300 && !bytes.Contains(b, []byte("errorDetail")) {
				t.Errorf("import of an escaping archive succeeded: %s", b)
			}

			st, b = send(t, "load", func(ctx context.Context) (io.ReadCloser, error) {
				return api.ImageLoad(ctx, bytes.NewReader(loadArchive(t, repo+":load", hc.Tar)), client.ImageLoadOptions{Quiet: true})
			})
			check(t, "load", st, b)
			if refuses && hc.Escape && st < 300 && !bytes.Contains(b, []byte("errorDetail")) && !bytes.Contains(b, []byte(`"error"`)) {
				t.Errorf("load of an escaping layer succeeded: %s", b)
			}

			st, b = send(t, "cp", func(ctx context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("")), api.CopyToContainer(ctx, target, "/tmp", bytes.NewReader(hc.Tar), client.CopyToContainerOptions{})
			})
			check(t, "cp", st, b)

			st, b = send(t, "build context", func(ctx context.Context) (io.ReadCloser, error) {
				return api.ImageBuild(ctx, bytes.NewReader(hc.Tar), client.ImageBuildOptions{Tags: []string{repo + ":ctx"}, Remove: true})
			})
			check(t, "build context", st, b)

			addCtx := hostiletar.Build(
				hostiletar.Entry{Hdr: tar.Header{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644},
					Body: []byte("FROM busybox\nADD hostile.tar /tmp/x/\n")},
				hostiletar.Entry{Hdr: tar.Header{Name: "hostile.tar", Typeflag: tar.TypeReg, Mode: 0o644}, Body: hc.Tar})
			st, b = send(t, "ADD", func(ctx context.Context) (io.ReadCloser, error) {
				return api.ImageBuild(ctx, bytes.NewReader(addCtx), client.ImageBuildOptions{Tags: []string{repo + ":add"}, Remove: true, ForceRemove: true})
			})
			check(t, "ADD", st, b)
		})
	}
}

// loadArchive wraps layer as the only layer of a docker save archive tagged ref.
func loadArchive(t *testing.T, ref string, layer []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(layer)
	diffID := "sha256:" + hex.EncodeToString(sum[:])
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	csum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(csum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": []string{"layer/layer.tar"}}})
	return hostiletar.Build(
		hostiletar.Entry{Hdr: tar.Header{Name: cfgName, Typeflag: tar.TypeReg, Mode: 0o644}, Body: cfg},
		hostiletar.Entry{Hdr: tar.Header{Name: "layer/", Typeflag: tar.TypeDir}},
		hostiletar.Entry{Hdr: tar.Header{Name: "layer/layer.tar", Typeflag: tar.TypeReg, Mode: 0o644}, Body: layer},
		hostiletar.Entry{Hdr: tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg, Mode: 0o644}, Body: manifest},
	)
}
