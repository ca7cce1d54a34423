package integration

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImages(t *testing.T) { forEachDriver(t, imageScenarios) }

// tarNames lists the entry names of a tar stream.
func tarNames(c *tcase, r io.Reader) []string {
	c.Helper()
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			c.Fatalf("read tar: %v", err)
		}
		names = append(names, strings.TrimPrefix(h.Name, "./"))
	}
}

func hasName(names []string, want string) bool {
	for _, n := range names {
		if strings.TrimSuffix(n, "/") == want {
			return true
		}
	}
	return false
}

var imageScenarios = []scenario{
	{"import-file-stdin-changes-message", func(c *tcase) {
		a, b := c.image("impf"), c.image("imps")
		c.ok("import", "-c", "ENV X=1", "-c", `CMD ["sh", "-c", "echo X=$X"]`, "-m", "imported by test", env.tarPath, a)
		c.wantEq(c.ok(runArgs("--rm", a)...), "X=1", "ENV and CMD from -c")
		c.wantContains(c.ok("history", "--no-trunc", a), "imported by test", "-m in history")
		r := c.dr.Run(c.ctx, bytes.NewReader(env.tarData), "import", "-", b)
		if r.Code != 0 || !strings.HasPrefix(r.Out(), "sha256:") {
			c.Fatalf("import from stdin should print the image id: %s", r)
		}
		c.wantEq(c.ok(runArgs("--rm", b, "cat", "/etc/group")...), strings.TrimSpace(groupFile), "imported rootfs")
	}},
	{"import-url", func(c *tcase) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-tar")
			w.Write(env.tarData)
		}))
		c.Cleanup(srv.Close)
		img := c.image("impu")
		c.ok("import", srv.URL+"/rootfs.tar", img)
		c.wantEq(c.ok(runArgs("--rm", img, "echo", "from-url")...), "from-url", "run imported image")
	}},
	{"save-load", func(c *tcase) {
		img := c.image("sl")
		c.ok("tag", "busybox", img)
		f := filepath.Join(c.tempDir(), "img.tar")
		c.ok("save", "-o", f, img)
		fh, err := os.Open(f)
		if err != nil {
			c.Fatal(err)
		}
		names := tarNames(c, fh)
		fh.Close()
		if !hasName(names, "manifest.json") {
			c.Errorf("save archive lacks manifest.json: %v", names)
		}
		c.ok("rmi", img)
		c.wantContains(c.ok("load", "-i", f), "Loaded image: "+img, "load -i")
		c.wantEq(c.ok(runArgs("--rm", img, "echo", "loaded")...), "loaded", "run loaded image")
		c.ok("rmi", img)
		data, _ := os.ReadFile(f)
		r := c.dr.Run(c.ctx, bytes.NewReader(data), "load")
		c.wantContains(r.Stdout, "Loaded image: "+img, "load from stdin")
	}},
	{"tag-rmi", func(c *tcase) {
		img := c.image("tag")
		c.ok("tag", "busybox", img)
		repo, _, _ := strings.Cut(img, ":")
		c.wantContains(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}", repo), img, "images lists the tag")
		c.wantEq(c.ok("rmi", img), "Untagged: "+img, "rmi of an extra tag only untags")
		c.ok("image", "inspect", "busybox")
	}},
	{"rmi-by-ids-and-force", func(c *tcase) {
		// Three distinct images sharing the busybox layer (different configs).
		mk := func(v string) (string, string) {
			ref := c.image("rmi" + v)
			c.ok("import", "-c", "ENV V="+v+randHex(4), env.tarPath, ref)
			return ref, c.ok("image", "inspect", "--format", "{{.Id}}", ref)
		}
		_, id1 := mk("a")
		out := c.ok("rmi", strings.TrimPrefix(id1, "sha256:")[:12])
		c.wantContains(out, "Deleted: "+id1, "rmi by short id")
		_, id2 := mk("b")
		c.wantContains(c.ok("rmi", id2), "Deleted: "+id2, "rmi by long id")
		ref3, id3 := mk("c")
		n := c.name("rmiuse")
		c.ok(createArgs("--name", n, ref3, "true")...)
		r := c.run("rmi", ref3)
		if r.Code == 0 || !strings.Contains(r.Stderr, "conflict") {
			c.Errorf("rmi of an image a container uses must conflict: %s", r)
		}
		// A stopped container is only a soft conflict: -f untags and deletes.
		out = c.ok("rmi", "-f", ref3)
		c.wantContains(out, "Untagged: "+ref3, "rmi -f")
		c.wantContains(out, "Deleted: "+id3, "rmi -f")
	}},
	{"history-and-image-inspect", func(c *tcase) {
		out := lines(c.ok("history", "busybox"))
		if len(out) < 2 {
			c.Fatalf("history: %q", out)
		}
		for _, h := range []string{"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"} {
			c.wantContains(out[0], h, "history header")
		}
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{.RootFS.Type}} {{len .RootFS.Layers}}", "busybox"),
			"linux/amd64 layers 1", "image inspect")
		c.wantEq(c.ok("image", "inspect", "--format", "{{json .Config.Cmd}}", "busybox"), `["sh"]`, "Config.Cmd")
	}},
	{"commit", func(c *tcase) {
		n := c.name("cmt")
		c.ok(runArgs("--name", n, "busybox", "sh", "-c", "echo committed > /marker")...)
		img := c.image("cmt")
		id := c.ok("commit", "-c", "ENV FROM_COMMIT=yes", n, img)
		if !strings.HasPrefix(id, "sha256:") {
			c.Errorf("commit should print the image id, got %q", id)
		}
		c.wantEq(c.ok(runArgs("--rm", img, "sh", "-c", "cat /marker; echo $FROM_COMMIT")...), "committed\nyes", "committed image")
		if h := lines(c.ok("history", "-q", img)); len(h) != 2 {
			c.Errorf("committed image should have 2 history rows: %q", h)
		}
	}},
}

const groupFile = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"
