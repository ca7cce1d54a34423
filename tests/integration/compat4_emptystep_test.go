package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestBuildEmptySteps builds, with the classic builder, steps that touch
// nothing (RUN true, RUN rm -f of a missing file, WORKDIR of a directory
// the image has) beside ones that do (a RUN writing a file, WORKDIR of a new
// directory): as in dockerd, a step that changed nothing adds history but
// no layer, the runtime's mountpoints (/etc/hosts, /etc/hostname,
// /etc/resolv.conf) never land in a layer, and WORKDIR makes its directory
// in a layer of its own. The same holds for `docker diff` and `docker
// commit` of a container that changed nothing. Checked through the docker
// CLI and docker-py's history; runs on both engines.
func TestBuildEmptySteps(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	c.dr.Env = append(append([]string{}, c.dr.Env...), "DOCKER_BUILDKIT=0")
	dir := c.tempDir()
	c.writeFile(dir, "Dockerfile", "FROM busybox\nRUN true\nRUN echo hi > /x\nENV A=b\nRUN true\n"+
		"WORKDIR /\nWORKDIR /newdir/sub\nRUN rm -f /nonexist\nWORKDIR /bin\n")
	img := c.image("emptysteps")
	// Longer than the CLI driver's 30 s: dockerd runs a container per step.
	if out, err := c.dr.Command(c.ctx, "build", "-q", "--network", "none", "-t", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	baseLayers := len(layersOf(c, "busybox"))
	layers := layersOf(c, img)
	c.wantEq(itoa(len(layers)-baseLayers), "2", "layers added (RUN echo, WORKDIR /newdir/sub)")

	want := []string{
		"0B\t/bin/sh -c #(nop) WORKDIR /bin",
		"0B\t/bin/sh -c rm -f /nonexist",
		"0B\t/bin/sh -c #(nop) WORKDIR /newdir/sub",
		"0B\t/bin/sh -c #(nop) WORKDIR /",
		"0B\t/bin/sh -c true",
		"0B\t/bin/sh -c #(nop)  ENV A=b",
		"3B\t/bin/sh -c echo hi > /x",
		"0B\t/bin/sh -c true",
	}
	hist := lines(c.ok("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", img))
	if len(hist) < len(want) {
		t.Fatalf("history:\n%s", strings.Join(hist, "\n"))
	}
	c.wantEq(strings.Join(hist[:len(want)], "\n"), strings.Join(want, "\n"), "history")

	// What the layers hold: the file and the directories, no mountpoint.
	save := c.tempDir()
	tarPath := save + "/img.tar"
	c.ok("save", "-o", tarPath, img)
	top := layerEntries(t, tarPath, layers[len(layers)-2:])
	c.wantEq(strings.Join(top[0], " "), "x", "the RUN echo layer")
	c.wantEq(strings.Join(top[1], " "), "newdir/ newdir/sub/", "the WORKDIR layer")

	// docker-py sees the same history.
	if _, err := exec.LookPath(python3()); err == nil {
		py := exec.Command(python3(), "-c", `
import json, os, docker
c = docker.APIClient(base_url='unix://' + os.environ['SOCK'], version='auto')
print(json.dumps([[h['Size'], h['CreatedBy']] for h in c.history(os.environ['IMG'])]))
`)
		py.Env = append(os.Environ(), "SOCK="+env.daemon.Sock, "IMG="+img)
		out, err := py.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-py history: %v\n%s", err, out)
		}
		var h [][]any
		if err := json.Unmarshal(out, &h); err != nil || len(h) < len(want) {
			t.Fatalf("docker-py history %q: %v", out, err)
		}
		for i, w := range want {
			size, by, _ := strings.Cut(w, "\t")
			if got := h[i][1].(string); got != by || (size == "0B") != (h[i][0].(float64) == 0) {
				t.Errorf("docker-py history %d: %v, want %q", i, h[i], w)
			}
		}
	}

	// A container that changed nothing: no diff, and its commit adds no layer.
	ctr := c.name("emptycommit")
	c.ok(runArgs("--name", ctr, "busybox", "true")...)
	c.wantEq(c.ok("diff", ctr), "", "diff of a container that changed nothing")
	committed := c.image("emptycommit")
	c.ok("commit", ctr, committed)
	c.wantEq(itoa(len(layersOf(c, committed))), itoa(baseLayers), "layers of its commit")
	// One that wrote a file: that file (and its directory) only.
	ctr2 := c.name("onecommit")
	c.ok(runArgs("--name", ctr2, "busybox", "sh", "-c", "echo x > /etc/foo")...)
	c.wantEq(c.ok("diff", ctr2), "C /etc\nA /etc/foo", "diff of a container that wrote /etc/foo")
}

func layersOf(c *tcase, ref string) []string {
	c.Helper()
	var l []string
	if err := json.Unmarshal([]byte(c.inspect(ref, "{{json .RootFS.Layers}}")), &l); err != nil {
		c.Fatal(err)
	}
	return l
}

func itoa(n int) string { return strconv.Itoa(n) }

// layerEntries lists the entry names of the layers with the given diff IDs
// in a `docker save` archive (either layout: the legacy one of dockerd
// 20.10, the OCI one of docker 25+).
func layerEntries(t *testing.T, archive string, diffIDs []string) [][]string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", archive, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v %s", err, out)
	}
	raw, err := os.ReadFile(dir + "/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest %s: %v", raw, err)
	}
	cfgRaw, err := os.ReadFile(dir + "/" + m[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, want := range diffIDs {
		for i, d := range cfg.RootFS.DiffIDs {
			if d != want {
				continue
			}
			names, err := exec.Command("tar", "-tf", dir+"/"+m[0].Layers[i]).Output()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.Fields(string(names)))
		}
	}
	return out
}
