package integration

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// Image prune and the prune filters' errors as dockerd answers them; green
// on both engines.
func TestImagePruneCompat(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	mark := "p" + randHex(4)

	t.Run("dangling-and-all", func(t *testing.T) {
		c := newCase(t, c.dr)
		tagged := c.image("prt")
		c.imImport(tagged, "LABEL prunecase="+mark)
		// A dangling image: imported without a name.
		r := c.dr.Run(c.ctx, strings.NewReader(string(env.tarData)), "import", "-c", "LABEL prunecase="+mark, "-")
		if r.Code != 0 {
			c.Fatalf("import: %s", r)
		}
		dangling := strings.TrimPrefix(r.Out(), "sha256:")
		c.Cleanup(func() { c.run("rmi", "-f", dangling) })
		out := c.ok("image", "prune", "-f", "--filter", "label=prunecase="+mark)
		c.wantContains(out, "deleted: sha256:"+dangling, "dangling image pruned")
		if strings.Contains(out, "untagged:") {
			c.Errorf("prune without -a untagged a named image:\n%s", out)
		}
		c.wantContains(out, "Total reclaimed space:", "summary")
		c.ok("image", "inspect", tagged)
		out = c.ok("image", "prune", "-a", "-f", "--filter", "label=prunecase="+mark)
		c.wantContains(out, "untagged: "+tagged, "-a removes unused named images")
		c.code(1, "image", "inspect", tagged)
	})

	t.Run("bad-filters", func(t *testing.T) {
		c := newCase(t, c.dr)
		for _, args := range [][]string{
			{"image", "prune", "-f", "--filter", "until=xyz"},
			{"container", "prune", "-f", "--filter", "until=xyz"},
			{"network", "prune", "-f", "--filter", "until=xyz"},
		} {
			r := c.code(1, args...)
			c.wantContains(r.Stderr, `failed to parse value as time or duration: "xyz"`, strings.Join(args, " "))
		}
		r := c.code(1, "builder", "prune", "-f", "--filter", "until=xyz")
		c.wantContains(r.Stderr, `failed to prune build cache: "until" filter expects a duration (e.g., '24h'): time: invalid duration "xyz"`, "builder prune")
	})
}
