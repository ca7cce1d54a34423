package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
	ociempty "github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image command set beyond the basics of images_test.go: list
// filters and formats, rmi's untag/delete rules, prune with filters and
// the disk space it gives back, save/load of several images and of an
// OCI layout, system df -v and search.
func TestImagesMore(t *testing.T) { forEachDriver(t, imageMoreScenarios) }

var imageMoreScenarios = []scenario{
	{"images-filters-and-formats", imagesFiltersAndFormats},
	{"images-all-hides-intermediate", imagesAllIntermediate},
	{"rmi-untag-delete-conflicts", rmiUntagDeleteConflicts},
	{"tag-normalized-names", tagNormalizedNames},
	{"image-prune-filters", imagePruneFilters},
	{"prune-reclaims-what-it-reports", pruneReclaimsReported},
	{"save-load-several", saveLoadSeveral},
	{"save-load-bad-input", saveLoadBadInput},
	{"system-df-verbose", systemDfVerbose},
	{"search-v1-registry", searchV1Registry},
}

// imImport imports the busybox fixture with the given -c changes as ref
// ("" for an untagged image) and returns the image ID; the image goes at
// cleanup.
func (c *tcase) imImport(ref string, changes ...string) string {
	c.Helper()
	args := []string{"import"}
	for _, ch := range changes {
		args = append(args, "-c", ch)
	}
	args = append(args, "-")
	if ref != "" {
		args = append(args, ref)
	}
	r := c.dr.Run(c.ctx, bytes.NewReader(env.tarData), args...)
	if r.Code != 0 {
		c.Fatalf("import: %s", r)
	}
	id := strings.TrimSpace(r.Stdout)
	if i := strings.LastIndex(id, "sha256:"); i >= 0 {
		id = id[i:]
	}
	c.imCleanup(id)
	return id
}

// imCleanup removes id (forced) when the scenario ends.
func (c *tcase) imCleanup(id string) {
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rmi", "-f", id) })
}

// imIDs lists `images -q --no-trunc args...` as a set.
func (c *tcase) imIDs(args ...string) map[string]bool {
	c.Helper()
	out := map[string]bool{}
	for _, l := range lines(c.ok(append([]string{"images", "-q", "--no-trunc"}, args...)...)) {
		out[l] = true
	}
	return out
}

// imFailed requires a non-zero exit whose stderr contains want, compared
// case-insensitively: dockerd 20.10 capitalises some messages current
// Docker writes in lower case ("Invalid filter").
func (c *tcase) imFailed(want string, args ...string) testutil.Result {
	c.Helper()
	r := c.run(args...)
	if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), strings.ToLower(want)) {
		c.Errorf("want failure with %q: %s", want, r)
	}
	return r
}

func imagesFiltersAndFormats(c *tcase) {
	tid := randHex(4)
	lbl := "tid=" + tid
	repo := "imf-" + c.dr.Name + "-" + tid
	a := c.imImport(repo+":a", "LABEL "+lbl, "LABEL which=a")
	b := c.imImport(repo+":b", "LABEL "+lbl, "LABEL which=b")
	other := "imfo-" + c.dr.Name + "-" + tid + ":x"
	c.ok("tag", repo+":b", other)
	c.imCleanup(other)
	dangling := c.imImport("", "LABEL "+lbl, "LABEL which=none")

	// A repository argument lists that repository's tags only, not the
	// image's other names.
	got := lines(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}", repo))
	if len(got) != 2 || !strings.Contains(strings.Join(got, " "), repo+":a") || !strings.Contains(strings.Join(got, " "), repo+":b") {
		c.Errorf("images %s: %q", repo, got)
	}
	c.wantEq(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}", repo+":b"), repo+":b", "repo:tag argument")
	c.wantEq(c.ok("images", "--format", "{{.Tag}}", "-f", "reference="+repo+":*", "-f", "label=which=a"), "a", "reference glob + label")
	c.wantEq(c.ok("images", "--format", "{{.Repository}}", "-f", "reference=imfo-"+c.dr.Name+"-*"), strings.Split(other, ":")[0], "reference glob on the name")

	ids := c.imIDs("-f", "label="+lbl)
	if len(ids) != 3 || !ids[a] || !ids[b] || !ids[dangling] {
		c.Errorf("label=%s: %v", lbl, ids)
	}
	if ids := c.imIDs("-f", "label="+lbl, "-f", "label=which=b"); len(ids) != 1 || !ids[b] {
		c.Errorf("label=which=b: %v", ids)
	}
	if ids := c.imIDs("-f", "label="+lbl, "-f", "dangling=true"); len(ids) != 1 || !ids[dangling] {
		c.Errorf("dangling=true: %v", ids)
	}
	if ids := c.imIDs("-f", "label="+lbl, "-f", "dangling=false"); len(ids) != 2 || ids[dangling] {
		c.Errorf("dangling=false: %v", ids)
	}
	// Imports one after another: since/before order them by creation.
	if ids := c.imIDs("-f", "label="+lbl, "-f", "since="+repo+":a"); ids[a] || !ids[dangling] {
		c.Errorf("since=%s:a: %v", repo, ids)
	}
	if ids := c.imIDs("-f", "label="+lbl, "-f", "before="+repo+":b"); len(ids) != 1 || !ids[a] {
		c.Errorf("before=%s:b: %v", repo, ids)
	}

	// Formats: ID template, table with headers, json, digests, no-trunc.
	c.wantEq(c.ok("images", "--format", "{{.ID}}: {{.Repository}}", repo+":a"), strings.TrimPrefix(a, "sha256:")[:12]+": "+repo, "--format")
	tbl := lines(c.ok("images", "--format", "table {{.Repository}}\t{{.Tag}}", repo+":a"))
	if len(tbl) != 2 || !strings.HasPrefix(tbl[0], "REPOSITORY") || !strings.Contains(tbl[0], "TAG") {
		c.Errorf("table format: %q", tbl)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(c.ok("images", "--format", "json", repo+":a")), &row); err != nil || row["Repository"] != repo || row["Tag"] != "a" {
		c.Errorf("--format json: %v %v", row, err)
	}
	dg := lines(c.ok("images", "--digests", repo+":a"))
	if len(dg) != 2 || !strings.Contains(dg[0], "DIGEST") || !strings.Contains(dg[1], "<none>") {
		c.Errorf("--digests: %q", dg)
	}
	c.wantContains(c.ok("images", "--no-trunc", repo+":a"), a, "--no-trunc shows the full ID")
	c.wantEq(c.ok("images", "-q", repo+":a"), strings.TrimPrefix(a, "sha256:")[:12], "-q")

	c.imFailed("invalid filter 'foo'", "images", "-f", "foo=bar")
	c.imFailed("No such image", "images", "-f", "since=nothere-"+tid)
}

// Untagged parents of other images are hidden without -a.
func imagesAllIntermediate(c *tcase) {
	tid := randHex(4)
	parentRef := "imp-" + c.dr.Name + "-" + tid + ":p"
	parent := c.imImport(parentRef, "LABEL tid="+tid)
	n := c.name("impc")
	c.ok(createArgs("--name", n, parentRef, "true")...)
	childRef := c.image("impchild")
	child := c.ok("commit", n, childRef)
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rmi", "-f", child) })
	c.ok("rm", n)
	// The last tag of a parent goes; the image stays, as an intermediate one.
	c.wantEq(c.ok("rmi", parentRef), "Untagged: "+parentRef, "rmi of a parent's last tag only untags")
	if !c.imIDs("-a")[parent] {
		c.Errorf("images -a lacks the intermediate image %s", parent)
	}
	if c.imIDs()[parent] {
		c.Errorf("images without -a shows the intermediate image %s", parent)
	}
	if c.imIDs("-f", "dangling=true")[parent] {
		c.Errorf("an intermediate image is not dangling")
	}
	// Deleting the child prunes the untagged parent with it.
	out := c.ok("rmi", childRef)
	c.wantContains(out, "Deleted: "+child, "rmi child")
	c.wantContains(out, "Deleted: "+parent, "rmi child prunes its untagged parent")
}

func rmiUntagDeleteConflicts(c *tcase) {
	tid := randHex(4)
	ref := "imr-" + c.dr.Name + "-" + tid + ":1"
	id := c.imImport(ref, "LABEL tid="+tid)
	short := strings.TrimPrefix(id, "sha256:")[:12]
	n := c.name("imrc")
	c.ok(createArgs("--name", n, ref, "true")...)
	// By name, used by a container: refused, the tag stays.
	c.imFailed(fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container", ref), "rmi", ref)
	// By ID, one tag, used by a stopped container: refused before untagging.
	c.imFailed("conflict: unable to delete "+short+" (must be forced) - image is being used by stopped container", "rmi", short)
	c.wantEq(c.ok("images", "-q", ref), short, "the tag survives a refused rmi")
	// Two repositories: by ID needs -f.
	other := "imr2-" + c.dr.Name + "-" + tid + ":1"
	c.ok("tag", ref, other)
	c.imCleanup(other)
	c.ok("rm", n)
	c.imFailed("conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories", "rmi", short)
	c.wantEq(c.ok("rmi", other), "Untagged: "+other, "rmi of one of two names untags")
	// By long ID with one tag left: untag and delete.
	out := lines(c.ok("rmi", id))
	c.wantEq(strings.Join(out, "\n"), "Untagged: "+ref+"\nDeleted: "+id, "rmi by long id")
	c.imFailed("No such image: "+ref, "rmi", ref)
	// -f with a running container is a hard conflict.
	ref2 := "imr3-" + c.dr.Name + "-" + tid + ":1"
	id2 := c.imImport(ref2, "LABEL tid="+tid, "LABEL n=2")
	c.sleeperOf(ref2)
	c.imFailed("conflict: unable to delete "+strings.TrimPrefix(id2, "sha256:")[:12]+" (cannot be forced) - image is being used by running container", "rmi", "-f", id2)
	// -f by name removes the name even then, the image stays for the container.
	c.wantContains(c.ok("rmi", "-f", ref2), "Untagged: "+ref2, "rmi -f by name untags")
}

// sleeperOf runs image detached (sleep 600), removed at cleanup.
func (c *tcase) sleeperOf(image string) string {
	c.Helper()
	n := c.name("imsl")
	c.ok(runArgs("-d", "--name", n, image, "sleep", "600")...)
	return n
}

// tag accepts the normalized forms the docker CLI sends and users type.
func tagNormalizedNames(c *tcase) {
	tid := randHex(4)
	full := "docker.io/library/imt-" + c.dr.Name + "-" + tid + ":1"
	short := "imt-" + c.dr.Name + "-" + tid + ":1"
	user := "docker.io/imt2-" + c.dr.Name + "-" + tid
	c.ok("tag", "busybox", full)
	c.imCleanup(short)
	c.ok("tag", "busybox", user)
	c.imCleanup("imt2-" + c.dr.Name + "-" + tid)
	c.wantEq(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}", short), short, "docker.io/library/ form lists in familiar form")
	c.wantEq(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}", "imt2-"+c.dr.Name+"-"+tid), "imt2-"+c.dr.Name+"-"+tid+":latest", "docker.io/x form")
	c.wantEq(c.ok("rmi", full), "Untagged: "+short, "rmi by the normalized name")
	c.wantEq(c.ok("rmi", "docker.io/imt2-"+c.dr.Name+"-"+tid+":latest"), "Untagged: imt2-"+c.dr.Name+"-"+tid+":latest", "rmi docker.io/x")
	c.imFailed("refusing to create a tag with a digest reference", "tag", "busybox", "imt3@sha256:"+strings.Repeat("0", 64))
	c.imFailed("invalid reference format", "tag", "busybox", "UPPER:"+tid)
	c.imFailed("No such image", "tag", "nothere-"+tid, "imt4:"+tid)
}

func imagePruneFilters(c *tcase) {
	tid := randHex(4)
	lbl := "label=tid=" + tid
	dangling := c.imImport("", "LABEL tid="+tid)
	tagged := c.imImport("imq-"+c.dr.Name+"-"+tid+":1", "LABEL tid="+tid, "LABEL n=1")
	used := c.imImport("imq-"+c.dr.Name+"-"+tid+":used", "LABEL tid="+tid, "LABEL n=2")
	n := c.name("imqc")
	c.ok(createArgs("--name", n, used, "true")...)

	// Dangling only, and only what the label selects.
	out := c.ok("image", "prune", "-f", "--filter", lbl)
	c.wantContains(out, "deleted: "+dangling, "prune dangling")
	c.wantContains(out, "Total reclaimed space:", "prune summary")
	if strings.Contains(out, tagged) {
		c.Errorf("prune without -a took a tagged image: %s", out)
	}
	// until= before the images were made keeps them all.
	out = c.ok("image", "prune", "-a", "-f", "--filter", lbl, "--filter", "until=2000-01-01T00:00:00")
	c.wantEq(out, "Total reclaimed space: 0B", "until in the past prunes nothing")
	// label! excludes.
	out = c.ok("image", "prune", "-a", "-f", "--filter", lbl, "--filter", "label!=n=1")
	if strings.Contains(out, tagged) || strings.Contains(out, used) {
		c.Errorf("label! / used image pruned: %s", out)
	}
	// -a takes tagged images no container uses.
	out = c.ok("image", "prune", "-a", "-f", "--filter", lbl)
	c.wantContains(out, "untagged: imq-"+c.dr.Name+"-"+tid+":1", "prune -a untags")
	c.wantContains(out, "deleted: "+tagged, "prune -a deletes")
	if strings.Contains(out, used) {
		c.Errorf("prune -a took an image a container uses: %s", out)
	}
	if ids := c.imIDs("-a", "-f", lbl); len(ids) != 1 || !ids[used] {
		c.Errorf("after prune: %v, want only %s", ids, used)
	}
	c.imFailed("invalid filter 'foo'", "image", "prune", "-f", "--filter", "foo=1")
	// The CLI adds dangling=true itself, which dockerd then goes by.
	c.wantEq(c.ok("image", "prune", "-f", "--filter", lbl, "--filter", "dangling=maybe"), "Total reclaimed space: 0B", "dangling=maybe beside true")
}

// randomRootfs is a tar of one file of n random bytes, so the image made
// from it has a layer no other image shares.
func randomRootfs(c *tcase, n int) []byte {
	c.Helper()
	data := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, data); err != nil {
		c.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "blob", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// treeBytes adds up regular files under dir, counting hard links once.
func treeBytes(c *tcase, dir string) int64 {
	c.Helper()
	seen := map[uint64]bool{}
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil // racing removals
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		c.Fatal(err)
	}
	return n
}

// reclaimed parses the bytes of "Total reclaimed space: 2.1MB".
func reclaimed(c *tcase, out string) int64 {
	c.Helper()
	i := strings.LastIndex(out, "Total reclaimed space: ")
	if i < 0 {
		c.Fatalf("no total in %q", out)
	}
	s := strings.TrimSpace(out[i+len("Total reclaimed space: "):])
	units := []struct {
		suffix string
		mult   float64
	}{{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				c.Fatalf("total %q: %v", s, err)
			}
			return int64(f * u.mult)
		}
	}
	c.Fatalf("total %q", s)
	return 0
}

// image prune and system prune give back what they report: the layer
// directories (and the layer blobs with them) shrink by that much.
func pruneReclaimsReported(c *tcase) {
	tid := randHex(4)
	const size = 3 << 20
	berthd := env.daemon.Target == testutil.TargetBerthd
	overlay, blobs := filepath.Join(env.daemon.Root, "overlay"), filepath.Join(env.daemon.Root, "content")
	r := c.dr.Run(c.ctx, bytes.NewReader(randomRootfs(c, size)), "import", "-c", "LABEL tid="+tid, "-", "imd-"+c.dr.Name+"-"+tid+":1")
	if r.Code != 0 {
		c.Fatalf("import: %s", r)
	}
	c.imCleanup("imd-" + c.dr.Name + "-" + tid + ":1")
	var before, blobsBefore int64
	if berthd {
		before, blobsBefore = treeBytes(c, overlay), treeBytes(c, blobs)
	}
	out := c.ok("image", "prune", "-a", "-f", "--filter", "label=tid="+tid)
	got := reclaimed(c, out)
	// Docker rounds to three significant digits.
	if got < size*99/100 || got > size*102/100 {
		c.Errorf("image prune reported %d bytes for a %d-byte layer: %s", got, size, out)
	}
	if berthd {
		drop := before - treeBytes(c, overlay)
		if d := drop - got; d < -64<<10 || d > 64<<10 {
			c.Errorf("layer dirs shrank by %d, prune reported %d", drop, got)
		}
		if blobDrop := blobsBefore - treeBytes(c, blobs); blobDrop < size {
			c.Errorf("layer blob not collected: content shrank by %d", blobDrop)
		}
	}

	// system prune: a stopped container's writes plus an image.
	r = c.dr.Run(c.ctx, bytes.NewReader(randomRootfs(c, size)), "import", "-c", "LABEL tid="+tid, "-", "imd-"+c.dr.Name+"-"+tid+":2")
	if r.Code != 0 {
		c.Fatalf("import: %s", r)
	}
	c.imCleanup("imd-" + c.dr.Name + "-" + tid + ":2")
	n := c.name("imdc")
	c.ok(runArgs("--name", n, "--label", "tid="+tid, "busybox", "dd", "if=/dev/zero", "of=/written", "bs=1024", "count=1024")...)
	ctrID := c.inspect(n, "{{.Id}}")
	if berthd {
		before = treeBytes(c, overlay)
	}
	out = c.ok("system", "prune", "-a", "-f", "--filter", "label=tid="+tid)
	c.wantContains(out, ctrID, "system prune lists the container")
	got = reclaimed(c, out)
	want := int64(size + 1<<20)
	// Build cache the docker CLI prunes too (other tests' builds) adds to
	// the total; the disk check below still holds it to account.
	if got < want*99/100 || (got > want*102/100 && !strings.Contains(out, "Deleted build cache objects")) {
		c.Errorf("system prune reported %d, want about %d: %s", got, want, out)
	}
	if berthd {
		drop := before - treeBytes(c, overlay)
		if d := drop - got; d < -64<<10 || d > 64<<10 {
			c.Errorf("layer dirs shrank by %d, system prune reported %d", drop, got)
		}
	}
}

func saveLoadSeveral(c *tcase) {
	tid := randHex(4)
	a := "ims-" + c.dr.Name + "-" + tid + ":a"
	b := "ims-" + c.dr.Name + "-" + tid + ":b"
	idA := c.imImport(a, "LABEL tid="+tid, "LABEL n=a")
	idB := c.imImport(b, "LABEL tid="+tid, "LABEL n=b")
	untagged := c.imImport("", "LABEL tid="+tid, "LABEL n=none")
	dir := c.tempDir()
	two := filepath.Join(dir, "two.tar")
	c.ok("save", "-o", two, a, b)
	names := tarNamesOf(c, two)
	want := []string{"manifest.json"}
	if c.apiAtLeast("1.44") { // docker 25 made save's archive an OCI layout too
		want = append(want, "index.json", "oci-layout")
	}
	for _, want := range want {
		if !hasName(names, want) {
			c.Errorf("save archive lacks %s: %v", want, names)
		}
	}
	c.ok("rmi", a, b)
	out := c.ok("load", "-i", two)
	c.wantContains(out, "Loaded image: "+a, "load -i")
	c.wantContains(out, "Loaded image: "+b, "load -i")
	c.wantEq(c.ok("image", "inspect", "-f", "{{.Id}}", a), idA, "loaded image keeps its ID")
	c.wantEq(c.ok("image", "inspect", "-f", "{{.Id}}", b), idB, "loaded image keeps its ID")
	// Through stdin, quietly.
	data, err := os.ReadFile(two)
	if err != nil {
		c.Fatal(err)
	}
	r := c.dr.Run(c.ctx, bytes.NewReader(data), "load", "-q")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: "+a) {
		c.Errorf("load -q from stdin: %s", r)
	}
	// An image saved by ID loads without a name.
	byID := filepath.Join(dir, "byid.tar")
	c.ok("save", "-o", byID, untagged)
	c.ok("rmi", untagged)
	c.wantContains(c.ok("load", "-i", byID), "Loaded image ID: "+untagged, "load of an image saved by ID")
	// save to stdout.
	r = c.run("save", a)
	if r.Code != 0 || len(r.Stdout) < 1024 {
		c.Errorf("save to stdout: %d bytes, %s", len(r.Stdout), r.Stderr)
	}
	if env.daemon.Target == testutil.TargetBerthd {
		loadOCILayout(c, tid)
	}
}

func tarNamesOf(c *tcase, path string) []string {
	c.Helper()
	f, err := os.Open(path)
	if err != nil {
		c.Fatal(err)
	}
	defer f.Close()
	return tarNames(c, f)
}

// loadOCILayout loads a plain OCI image layout (index.json, gzip layers,
// no manifest.json) as other tools write it. dockerd 20.10 predates this.
func loadOCILayout(c *tcase, tid string) {
	c.Helper()
	ref := "imo-" + c.dr.Name + "-" + tid + ":oci"
	c.imCleanup(ref)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(env.tarData)), nil
	})
	if err != nil {
		c.Fatal(err)
	}
	img, err := mutate.AppendLayers(ociempty.Image, layer)
	if err != nil {
		c.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"sh"}
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		c.Fatal(err)
	}
	dir := filepath.Join(c.tempDir(), "layout")
	p, err := layout.Write(dir, ociempty.Index)
	if err != nil {
		c.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name": "docker.io/library/" + ref, "org.opencontainers.image.ref.name": "oci"})); err != nil {
		c.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, _ := tar.FileInfoHeader(fi, "")
		hdr.Name = rel
		tw.WriteHeader(hdr)
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			tw.Write(b)
		}
		return nil
	})
	tw.Close()
	r := c.dr.Run(c.ctx, &buf, "load")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: "+ref) {
		c.Fatalf("load of an OCI layout: %s", r)
	}
	c.wantEq(c.ok(runArgs("--rm", ref, "echo", "from-oci")...), "from-oci", "run the loaded OCI image")
}

// Bad archives and names leave nothing behind.
func saveLoadBadInput(c *tcase) {
	dir := c.tempDir()
	out := filepath.Join(dir, "x.tar")
	c.imFailed("No such image", "save", "-o", out, "nothere-"+randHex(4))
	if _, err := os.Stat(out); err == nil {
		c.Errorf("a failed save left %s", out)
	}
	before := c.imIDs("-a")
	r := c.dr.Run(c.ctx, strings.NewReader("this is not a tar archive at all"), "load")
	if r.Code == 0 {
		c.Errorf("load of garbage succeeded: %s", r)
	}
	// A docker-archive whose manifest names a config that is not there.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mf := []byte(`[{"Config":"blobs/sha256/` + strings.Repeat("a", 64) + `","RepoTags":["imbad:1"],"Layers":[]}]`)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(mf))})
	tw.Write(mf)
	tw.Close()
	if r := c.dr.Run(c.ctx, &buf, "load"); r.Code == 0 {
		c.Errorf("load of an archive without its config succeeded: %s", r)
	}
	after := c.imIDs("-a")
	if len(after) != len(before) {
		c.Errorf("failed loads changed the image list: %v → %v", before, after)
	}
}

func systemDfVerbose(c *tcase) {
	tid := randHex(4)
	ref := "imdf-" + c.dr.Name + "-" + tid + ":1"
	c.imImport(ref, "LABEL tid="+tid)
	n := c.name("imdfc")
	c.ok(createArgs("--name", n, ref, "true")...)
	out := c.ok("system", "df", "-v")
	for _, want := range []string{"Images space usage:", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS",
		"Containers space usage:", "Local Volumes space usage:", "Build cache usage:", "imdf-" + c.dr.Name + "-" + tid, n} {
		c.wantContains(out, want, "system df -v")
	}
	// Our image shares its only layer with busybox: all of it is shared.
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "imdf-"+c.dr.Name+"-"+tid) {
			f := strings.Fields(l)
			// REPOSITORY TAG ID CREATED... SIZE SHARED UNIQUE CONTAINERS
			if f[len(f)-1] != "1" || f[len(f)-2] != "0B" {
				c.Errorf("df -v row: %q (want unique 0B, 1 container)", l)
			}
		}
	}
	types := lines(c.ok("system", "df", "--format", "{{.Type}}"))
	c.wantEq(strings.Join(types, ","), "Images,Containers,Local Volumes,Build Cache", "df types")
}

// searchServer speaks a registry's v1 search API (and 404 elsewhere).
func searchServer(c *tcase) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/_ping":
			w.Write([]byte("true"))
		case "/v1/search":
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			all := []map[string]any{
				{"name": "demo/app", "description": "A demo application image with a description longer than forty-five runes", "star_count": 12, "is_official": false},
				{"name": "demo/official", "description": "official\nimage", "star_count": 3, "is_official": true},
				{"name": "demo/third", "description": "", "star_count": 0, "is_official": false},
			}
			if n > 0 && n < len(all) {
				all = all[:n]
			}
			json.NewEncoder(w).Encode(map[string]any{"query": r.URL.Query().Get("q"), "num_results": len(all), "results": all})
		default:
			http.NotFound(w, r)
		}
	}))
	c.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func searchV1Registry(c *tcase) {
	host := searchServer(c)
	term := host + "/demo"
	tbl := lines(c.ok("search", term))
	if len(tbl) != 4 {
		c.Fatalf("search: %q", tbl)
	}
	for _, h := range []string{"NAME", "DESCRIPTION", "STARS", "OFFICIAL"} {
		c.wantContains(tbl[0], h, "search header")
	}
	c.wantContains(tbl[1], "A demo application image with a description …", "description cut to 45")
	c.wantContains(tbl[2], "official image", "newlines become spaces")
	c.wantContains(tbl[2], "[OK]", "official mark")
	c.wantContains(c.ok("search", "--no-trunc", term), "longer than forty-five runes", "--no-trunc")
	c.wantEq(c.ok("search", "--format", "{{.Name}}", "--limit", "1", term), "demo/app", "--limit")
	c.wantEq(c.ok("search", "--format", "{{.Name}}", "--filter", "is-official=true", term), "demo/official", "is-official")
	c.wantEq(c.ok("search", "--format", "{{.Name}}:{{.StarCount}}", "--filter", "stars=5", term), "demo/app:12", "stars")
	var row map[string]any
	if err := json.Unmarshal([]byte(lines(c.ok("search", "--format", "json", term))[1]), &row); err != nil || row["IsOfficial"] != "true" {
		c.Errorf("--format json: %v %v", row, err)
	}
	c.imFailed("invalid filter 'foo'", "search", "--filter", "foo=1", term)
	c.imFailed("limit 101 is outside the range of [1, 100]", "search", "--limit", "101", term)
	// A server without the v1 API (any OCI registry): dockerd's message.
	plain := httptest.NewServer(http.NotFoundHandler())
	c.Cleanup(plain.Close)
	c.imFailed("Unexpected status code 404", "search", strings.TrimPrefix(plain.URL, "http://")+"/demo")
}

// rmi by name@digest, and the digest going with the repository's last tag.
func TestImageRmiByDigest(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := pushFixture(t)
	forEachDriver(t, []scenario{{"rmi-by-digest", func(c *tcase) {
		ref := host + "/demo/bb:v1"
		c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rmi", "-f", ref) })
		c.ok("pull", ref)
		id := c.ok("image", "inspect", "-f", "{{.Id}}", ref)
		dref := c.ok("image", "inspect", "-f", "{{range .RepoDigests}}{{.}}{{end}}", ref)
		_, dg, _ := strings.Cut(dref, "@")
		row := c.ok("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", host+"/demo/bb")
		c.wantEq(row, host+"/demo/bb v1 "+dg, "images --digests")
		c.wantEq(c.ok("rmi", dref), "Untagged: "+dref, "rmi by digest only untags it")
		c.wantEq(c.ok("image", "inspect", "-f", "{{.Id}} {{len .RepoDigests}}", ref), id+" 0", "tag stays, digest gone")
		c.ok("pull", ref)
		out := lines(c.ok("rmi", ref))
		c.wantEq(strings.Join(out, "\n"), "Untagged: "+ref+"\nUntagged: "+dref+"\nDeleted: "+id, "rmi of the last tag takes the digest")
	}}})
}
