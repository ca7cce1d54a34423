package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestLoadLegacy loads archives in the layout `docker save` wrote before
// Docker 1.10 (a directory per layer with json, layer.tar and VERSION, a
// repositories file, no manifest.json), which dockerd 28 still loads
// (image/tarexport's legacyLoad): each layer becomes an image on its
// parent's, its config the v1 JSON without its v1 IDs plus rootfs and
// history (so the image IDs are dockerd's, checked against the config
// written out here), the repositories file tags them, and nothing is
// printed but a tag taken from another image. Through the docker CLI and
// docker-py (whose load returns no image for it); runs on both engines.
func TestLoadLegacy(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	repo := "legacyimg-" + randHex(4)
	arch := runtime.GOARCH
	base := env.tarData
	hello := tarOf(c, map[string]string{"hello": "hi\n"})
	id1, id2 := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	json1 := fmt.Sprintf(`{"id":%q,"created":"2015-01-02T03:04:05.123456789Z","container_config":{"Cmd":["/bin/sh","-c","#(nop) ADD file:busybox in /"]},"docker_version":"1.9.1","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"architecture":%q,"os":"linux","Size":123}`, id1, arch)
	json2 := fmt.Sprintf(`{"id":%q,"parent":%q,"created":"2015-01-02T03:05:05Z","container_config":{"Cmd":["/bin/sh","-c","echo hi > /hello"]},"docker_version":"1.9.1","config":{"Cmd":["cat","/hello"],"Env":["PATH=/bin"]},"architecture":%q,"os":"linux","Size":3,"comment":"second"}`, id2, id1, arch)
	files := map[string]string{
		id1 + "/json": json1, id1 + "/layer.tar": string(base), id1 + "/VERSION": "1.0",
		id2 + "/json": json2, id2 + "/layer.tar": string(hello), id2 + "/VERSION": "1.0",
		"repositories": fmt.Sprintf(`{%q:{"v1":%q,"base":%q}}`, repo, id2, id1),
	}
	dir := c.tempDir()
	write := func(name string, files map[string]string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, tarOf(c, files), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	archive := write("legacy.tar", files)

	// dockerd's config: the v1 JSON's keys in order, without id, parent
	// and Size, with rootfs and history; its digest is the image ID.
	d1, d2 := "sha256:"+sha256Of(base), "sha256:"+sha256Of(hello)
	h1 := `{"created":"2015-01-02T03:04:05.123456789Z","created_by":"/bin/sh -c #(nop) ADD file:busybox in /"}`
	cfg1 := fmt.Sprintf(`{"architecture":%q,"config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"container_config":{"Cmd":["/bin/sh","-c","#(nop) ADD file:busybox in /"]},"created":"2015-01-02T03:04:05.123456789Z","docker_version":"1.9.1","history":[%s],"os":"linux","rootfs":{"type":"layers","diff_ids":[%q]}}`, arch, h1, d1)
	cfg2 := fmt.Sprintf(`{"architecture":%q,"comment":"second","config":{"Cmd":["cat","/hello"],"Env":["PATH=/bin"]},"container_config":{"Cmd":["/bin/sh","-c","echo hi \u003e /hello"]},"created":"2015-01-02T03:05:05Z","docker_version":"1.9.1","history":[%s,{"created":"2015-01-02T03:05:05Z","created_by":"/bin/sh -c echo hi \u003e /hello","comment":"second"}],"os":"linux","rootfs":{"type":"layers","diff_ids":[%q,%q]}}`, arch, h1, d1, d2)
	want1, want2 := "sha256:"+hexSum(cfg1), "sha256:"+hexSum(cfg2)
	c.Cleanup(func() { c.run("rmi", "-f", repo+":v1", repo+":base", want2, want1) })

	r := c.run("load", "-i", archive)
	if r.Code != 0 || r.Out() != "" {
		t.Fatalf("load: %s", r)
	}
	c.wantEq(c.inspect(repo+":v1", "{{.Id}}"), want2, "image ID of the top layer")
	c.wantEq(c.inspect(repo+":base", "{{.Id}}"), want1, "image ID of the base layer")
	c.wantEq(c.inspect(repo+":v1", "{{.Parent}}"), want1, "parent")
	c.wantEq(c.inspect(repo+":v1", "{{.Comment}} {{json .Config.Cmd}} {{.Created}}"), `second ["cat","/hello"] 2015-01-02T03:05:05Z`, "inspect")
	c.wantEq(c.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", repo+":v1"),
		"/bin/sh -c echo hi > /hello|3B\n/bin/sh -c #(nop) ADD file:busybox in /|"+c.ok("history", "--format", "{{.Size}}", repo+":base"), "history")
	c.wantEq(c.ok("run", "--rm", "--network", "none", repo+":v1"), "hi", "run")

	// A tag that moves to another image is the only line printed.
	moved := write("moved.tar", map[string]string{
		id1 + "/json": json1, id1 + "/layer.tar": string(base), id1 + "/VERSION": "1.0",
		"repositories": fmt.Sprintf(`{%q:{"v1":%q}}`, repo, id1),
	})
	c.wantEq(c.ok("load", "-i", moved), fmt.Sprintf("The image %s:v1 already exists, renaming the old one with ID %s to empty string", repo, want2), "load moving a tag")
	c.wantEq(c.inspect(repo+":v1", "{{.Id}}"), want1, "the moved tag")

	// docker-py finds no "Loaded image" line: its load returns no image.
	if _, err := exec.LookPath(python3()); err == nil {
		py := exec.Command(python3(), "-c", `
import os, docker
c = docker.DockerClient(base_url='unix://' + os.environ['SOCK'], version='auto')
print(len(c.images.load(open(os.environ['TAR'], 'rb').read())))
`)
		py.Env = append(os.Environ(), "SOCK="+env.daemon.Sock, "TAR="+archive)
		out, err := py.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-py load: %v\n%s", err, out)
		}
		c.wantEq(strings.TrimSpace(string(out)), "0", "images docker-py's load returns")
		c.wantEq(c.inspect(repo+":v1", "{{.Id}}"), want2, "the tag after docker-py's load")
	}

	// What dockerd refuses, in its words (the stream's error: exit 1).
	tmp := `open /.+/docker-import-\d+/`
	noLayer := map[string]string{id1 + "/json": json1, "repositories": fmt.Sprintf(`{%q:{"x":%q}}`, repo, id1)}
	badTarget := map[string]string{id1 + "/json": json1, id1 + "/layer.tar": string(base),
		"repositories": fmt.Sprintf(`{%q:{"x":%q}}`, repo, id2)}
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"no-layer":   {noLayer, tmp + id1 + `/layer\.tar: no such file or directory`},
		"bad-target": {badTarget, "invalid target ID: " + id2},
	} {
		r := c.code(1, "load", "-i", write(name+".tar", tc.files))
		got := strings.TrimPrefix(strings.TrimSpace(r.Stderr), "Error processing tar file(exit status 1): ")
		if !regexp.MustCompile(`^` + tc.want + `$`).MatchString(got) {
			t.Errorf("%s: got %q, want /%s/", name, got, tc.want)
		}
	}
	if c.run("image", "inspect", repo+":x").Code == 0 {
		t.Errorf("a failed load left the tag %s:x", repo)
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
