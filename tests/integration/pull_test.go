package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	ggcrcompression "github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrempty "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushFixture serves an in-process registry on loopback and pushes the
// busybox fixture to it as <host>/demo/bb:v1.
func pushFixture(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	pushImage(t, host)
	return host
}

// pushImage pushes the busybox fixture to host as demo/bb:v1.
func pushImage(t *testing.T, host string, opts ...remote.Option) {
	t.Helper()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(env.tarData)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(ggcrempty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"sh"}
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/demo/bb:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
}

// docker pull from a registry, then run the image by tag and by digest.
func TestPull(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := pushFixture(t)
	forEachDriver(t, []scenario{
		{"pull-run-by-tag-and-digest", func(c *tcase) {
			ref := host + "/demo/bb:v1"
			c.Cleanup(func() { c.dr.Run(c.ctx, nil, "rmi", "-f", ref) })
			out := c.ok("pull", ref)
			c.wantContains(out, "Digest: sha256:", "pull output")
			c.wantContains(out, "Status: Downloaded newer image for "+ref, "pull status")
			c.wantContains(c.ok("pull", ref), "Image is up to date for "+ref, "second pull")
			c.wantEq(c.ok("run", "--rm", ref, "echo", "pulled"), "pulled", "run by tag")
			digest := c.ok("image", "inspect", "-f", "{{range .RepoDigests}}{{.}}{{end}}", ref)
			if !strings.HasPrefix(digest, host+"/demo/bb@sha256:") {
				c.Fatalf("RepoDigests = %q", digest)
			}
			c.wantEq(c.ok("run", "--rm", digest, "echo", "by-digest"), "by-digest", "run by digest")
			r := c.run("pull", host+"/demo/bb:nosuch")
			if r.Code == 0 || !strings.Contains(r.Stderr, "manifest unknown") {
				c.Errorf("missing tag: %s", r)
			}
			c.wantContains(c.ok("rmi", ref), fmt.Sprintf("Untagged: %s", ref), "rmi")
			// run pulls a missing image first.
			r = c.run("run", "--rm", ref, "echo", "auto-pulled")
			if r.Code != 0 || r.Out() != "auto-pulled" || !strings.Contains(r.Stderr, "Unable to find image") {
				c.Errorf("run of a missing image: %s", r)
			}
		}},
	})
}

// startBerthRegistry runs bin/berth-registry on a free loopback port with a
// temp root, stopped by its pid at cleanup.
func startBerthRegistry(t *testing.T, extra ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	bin := filepath.Join(testutil.BinDir(env.daemon.RepoDir), "berth-registry")
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--root", t.TempDir()}, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Skipf("berth-registry: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("berth-registry did not listen on %s", addr)
	return ""
}

// Pull through berthd from our own registry server.
func TestPullFromBerthRegistry(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := startBerthRegistry(t)
	pushImage(t, host)
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	ref := host + "/demo/bb:v1"
	t.Cleanup(func() { dr.Run(context.Background(), nil, "rmi", "-f", ref) })
	if r := dr.Run(context.Background(), nil, "pull", ref); r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if r := dr.Run(context.Background(), nil, "run", "--rm", ref, "echo", "from-berth-registry"); r.Out() != "from-berth-registry" {
		t.Fatalf("%s", r)
	}
}

// On a terminal pull draws docker's per-layer progress (a line per layer
// redrawn in place); piped, it prints plain lines (TestPull).
func TestPullProgressOnTTY(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := pushFixture(t)
	forEachDriver(t, []scenario{{"tty-progress", func(c *tcase) {
		ref := host + "/demo/bb:v1"
		c.Cleanup(func() { c.dr.Run(c.ctx, nil, "rmi", "-f", ref) })
		c.run("rmi", "-f", ref)
		s := c.startPTY("pull", ref)
		s.expect("Digest: sha256:")
		if code := s.wait(); code != 0 {
			c.Fatalf("pull on a pty: exit %d: %s", code, s.output())
		}
		out := s.output()
		// The fixture's layer is stored already: its line says so, redrawn
		// in place (cursor up, clear line) as docker does on a terminal.
		c.wantContains(out, "\x1b[1A\x1b[2K\r", "a terminal redraws the layer lines")
		c.wantContains(out, ": Already exists", "layer status")
	}}})
}

// A pull that fails part way resumes: the layers it had verified are not
// downloaded again.
func TestPullResumes(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd's resume: dockerd retries the failed blob download within the pull, so its first pull succeeds")
	}
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	failing, _ := layers[1].Digest()
	var fails atomic.Int32
	fails.Store(1)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+failing.String()) && fails.Add(-1) >= 0 {
			// After the other layer is through: the pull fails half way.
			time.Sleep(300 * time.Millisecond)
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/demo/two:v1"
	writeImage(t, ref, img)
	dr := env.drivers[0]
	t.Cleanup(func() { dr.Run(context.Background(), nil, "rmi", "-f", ref) })
	first := dr.Run(context.Background(), nil, "pull", ref)
	if first.Code == 0 {
		t.Fatalf("the first pull should fail on the injected error: %s", first)
	}
	second := dr.Run(context.Background(), nil, "pull", ref)
	if second.Code != 0 {
		t.Fatalf("second pull: %s", second)
	}
	if got := strings.Count(second.Stdout, "Already exists"); got != 1 {
		t.Errorf("the resumed pull should reuse the layer it had: %d layers reused:\n%s", got, second.Stdout)
	}
	if !strings.Contains(second.Stdout, "Pull complete") {
		t.Errorf("the missing layer was not fetched:\n%s", second.Stdout)
	}
}

// zstd layers (OCI's layer.v1.tar+zstd) pull and run like gzip ones.
func TestPullZstdLayer(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	newCase(t, env.drivers[0]).needAPI("1.42") // zstd layers came with docker 23 (API 1.42)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(env.tarData)), nil
	}, tarball.WithCompression(ggcrcompression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(ggcrempty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/demo/zstd:v1"
	writeImage(t, ref, img)
	dr := env.drivers[0]
	t.Cleanup(func() { dr.Run(context.Background(), nil, "rmi", "-f", ref) })
	if res := dr.Run(context.Background(), nil, "pull", ref); res.Code != 0 {
		t.Fatalf("pull of a zstd image: %s", res)
	}
	if got := dr.Run(context.Background(), nil, runArgs("--rm", ref, "echo", "zstd-ok")...).Out(); got != "zstd-ok" {
		t.Fatalf("run: %q", got)
	}
}

// writeImage pushes img to ref on a test registry over plain HTTP.
func writeImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}
