package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// scenario is one row of the table run through every driver.
type scenario struct {
	name string
	fn   func(c *tcase)
}

// tcase is one scenario under one driver.
type tcase struct {
	*testing.T
	dr  testutil.Driver
	ctx context.Context
}

func newCase(t *testing.T, dr testutil.Driver) *tcase {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &tcase{T: t, dr: dr, ctx: ctx}
}

// run runs the CLI without asserting.
func (c *tcase) run(args ...string) testutil.Result {
	c.Helper()
	return c.dr.Run(c.ctx, nil, args...)
}

// runIn runs the CLI with stdin.
func (c *tcase) runIn(in string, args ...string) testutil.Result {
	c.Helper()
	return c.dr.Run(c.ctx, strings.NewReader(in), args...)
}

// ok runs the CLI, requires exit 0 and returns trimmed stdout.
func (c *tcase) ok(args ...string) string {
	c.Helper()
	r := c.run(args...)
	if r.Code != 0 {
		c.Fatalf("want exit 0: %s", r)
	}
	return r.Out()
}

// code runs the CLI and requires exit code want.
func (c *tcase) code(want int, args ...string) testutil.Result {
	c.Helper()
	r := c.run(args...)
	if r.Code != want {
		c.Fatalf("want exit %d: %s", want, r)
	}
	return r
}

// netArgs keeps dockerd off its default bridge (a private one, without iptables);
// the harness's berthd has its default bridge.
func netArgs() []string {
	if env.daemon.Target == testutil.TargetDockerd {
		return []string{"--network", "none"}
	}
	return nil
}

// runArgs is "run" plus the network flag, then args.
func runArgs(args ...string) []string {
	return append(append([]string{"run"}, netArgs()...), args...)
}

// createArgs is "create" plus the network flag, then args.
func createArgs(args ...string) []string {
	return append(append([]string{"create"}, netArgs()...), args...)
}

// name returns a unique container name and removes the container at cleanup.
func (c *tcase) name(prefix string) string {
	c.Helper()
	n := prefix + "-" + c.dr.Name + "-" + randHex(4)
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rm", "-f", "-v", n) })
	return n
}

// image returns a unique image ref and removes it at cleanup.
func (c *tcase) image(prefix string) string {
	n := prefix + "-" + c.dr.Name + "-" + randHex(4) + ":t"
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rmi", "-f", n) })
	return n
}

// daemonDetached starts a detached container running cmd and returns its name.
func (c *tcase) detached(prefix string, extra []string, cmd ...string) string {
	c.Helper()
	n := c.name(prefix)
	args := runArgs(append(append([]string{"-d", "--name", n}, extra...), append([]string{"busybox"}, cmd...)...)...)
	c.ok(args...)
	return n
}

// sleeper starts a detached "sleep 600".
func (c *tcase) sleeper(prefix string, extra ...string) string {
	c.Helper()
	return c.detached(prefix, extra, "sleep", "600")
}

// inspect returns `inspect --format f target`.
func (c *tcase) inspect(target, f string) string {
	c.Helper()
	return c.ok("inspect", "--format", f, target)
}

// eventually polls cond every 100ms until it holds or d passes.
func (c *tcase) eventually(d time.Duration, what string, cond func() bool) {
	c.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExit waits until the container is no longer running.
func (c *tcase) waitExit(name string) {
	c.Helper()
	c.eventually(30*time.Second, name+" to exit", func() bool {
		return c.inspect(name, "{{.State.Running}}") == "false"
	})
}

func (c *tcase) wantContains(got, sub, what string) {
	c.Helper()
	if !strings.Contains(got, sub) {
		c.Errorf("%s: want %q in:\n%s", what, sub, got)
	}
}

func (c *tcase) wantEq(got, want, what string) {
	c.Helper()
	if got != want {
		c.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// tempDir is a short temp dir removed at cleanup.
func (c *tcase) tempDir() string {
	c.Helper()
	d, err := os.MkdirTemp("/tmp", "bti")
	if err != nil {
		c.Fatal(err)
	}
	c.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (c *tcase) writeFile(dir, name, content string) string {
	c.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.Fatal(err)
	}
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func lines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// imageIDs is `images -q` with args, sorted, for before/after checks:
// the list is ordered by creation time in whole seconds, and dockerd lists
// the images of one second in no fixed order (its sort is by that second
// alone), so two listings of the same images may differ in order.
func (c *tcase) imageIDs(args ...string) string {
	c.Helper()
	ids := lines(c.ok(append([]string{"images", "-q"}, args...)...))
	sort.Strings(ids)
	return strings.Join(ids, "\n")
}

// needAPI skips when the daemon's API version is older than min: used only
// where dockerd 20.10 (API 1.41) predates behaviour current Docker documents.
func (c *tcase) needAPI(min string) {
	c.Helper()
	v := c.ok("version", "--format", "{{.Server.APIVersion}}")
	if versionLess(v, min) {
		c.Skipf("daemon API %s < %s: behaviour added later in Docker", v, min)
	}
}

func versionLess(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	return am < bm || (am == bm && an < bn)
}

// apiAtLeast reports whether the daemon speaks API min or newer.
func (c *tcase) apiAtLeast(min string) bool {
	c.Helper()
	return !versionLess(c.ok("version", "--format", "{{.Server.APIVersion}}"), min)
}

// python3 is the interpreter the SDK tests run docker-py with: Debian's,
// where scripts/install-deps.sh installs python3-docker, ahead of another
// python3 earlier on PATH (pyenv) that may lack the module.
func python3() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
