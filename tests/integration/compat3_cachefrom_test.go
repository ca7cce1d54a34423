package integration

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestBuildCacheFrom: with --cache-from the classic builder (docker CLI 28,
// DOCKER_BUILDKIT=0) takes cache hits only from the listed images: its own
// cache serves a step only when the image it has is one a listed image was
// built on, the listed images' history serves the rest, and a listed name
// that is not here leaves no cache at all. Green on dockerd 20.10.
func TestBuildCacheFrom(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	dr := testutil.DockerDriver(env.daemon, env.cfgDir)
	dr.Env = append(append([]string(nil), dr.Env...), "DOCKER_BUILDKIT=0")
	c := newCase(t, dr)
	mark := randHex(6)
	df := func(last string) string {
		return "FROM busybox\nRUN echo " + mark + " > /a\nENV M=" + mark + "\nRUN echo " + last + " > /b\n"
	}
	dir := c.buildDir(map[string]string{"Dockerfile": df("b")})
	other := c.buildDir(map[string]string{"Dockerfile": df("c")})
	src := c.image("bcfsrc")
	c.buildOK(dir, "-t", src)
	srcID := c.inspect(src, "{{.Id}}")
	hits := func(out string) int { return strings.Count(out, "Using cache") }

	// The builder's own cache serves the same build without --cache-from.
	if out := c.buildOK(dir); hits(out) != 3 {
		t.Errorf("plain rebuild: %d cache hits, want 3:\n%s", hits(out), out)
	}
	// Listing an image these steps are not under: nothing from the cache.
	if out := c.buildOK(dir, "--cache-from", "busybox"); hits(out) != 0 {
		t.Errorf("--cache-from busybox: %d cache hits, want 0:\n%s", hits(out), out)
	}
	// A listed name that is not here: no cache either.
	if out := c.buildOK(dir, "--cache-from", "nosuch-"+mark+":t"); hits(out) != 0 {
		t.Errorf("--cache-from a missing image: %d cache hits, want 0:\n%s", hits(out), out)
	}
	// The source itself: every step, and the very same image.
	img := c.image("bcfdst")
	if out := c.buildOK(dir, "-t", img, "--cache-from", src); hits(out) != 3 {
		t.Errorf("--cache-from the source: %d cache hits, want 3:\n%s", hits(out), out)
	}
	c.wantEq(c.inspect(img, "{{.Id}}"), srcID, "fully cached build")
	// Another Dockerfile sharing the first two steps.
	if out := c.buildOK(other, "--cache-from", "busybox", "--cache-from", src); hits(out) != 2 {
		t.Errorf("--cache-from for a build sharing two steps: %d cache hits, want 2:\n%s", hits(out), out)
	}
}
