package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// buildDir writes files (name → content) into a fresh context dir.
func (c *tcase) buildDir(files map[string]string) string {
	c.Helper()
	dir := c.tempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			c.Fatal(err)
		}
	}
	return dir
}

// build runs `build` with args and the context dir last, requiring success.
// buildOK builds dir and requires exit 0. It allows two minutes, not the
// driver's 30 seconds: dockerd's classic builder runs a container for every
// step, and a 20-step Dockerfile outlasted 30 seconds on a loaded host.
func (c *tcase) buildOK(dir string, args ...string) string {
	c.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	args = append(append([]string{"build"}, args...), dir)
	r := testutil.RunCommand(ctx, c.dr.Command(ctx, args...), args)
	if r.Code != 0 {
		c.Fatalf("build failed: %s", r)
	}
	return r.Stdout + r.Stderr
}

func berthdOnly(c *tcase) {
	if env.daemon.Target != testutil.TargetBerthd {
		c.Skip("BuildKit-only Dockerfile features; dockerd's classic builder rejects them")
	}
}

// tarGz makes a gzipped tar holding files.
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestBuild(t *testing.T) {
	forEachDriver(t, buildScenarios)
}

var buildScenarios = []scenario{
	{"instructions", func(c *tcase) {
		img := c.image("bi")
		arch := tarGz(c.T, map[string]string{"pkg/inner.txt": "from-archive"})
		dir := c.buildDir(map[string]string{
			"Dockerfile": `ARG BASE=busybox
FROM $BASE
MAINTAINER someone@example.com
ARG GREETING=hi
ENV APP_HOME=/srv/app PATH=/usr/local/bin:/bin:/usr/bin
LABEL org.example.greeting=$GREETING version="1.0"
WORKDIR $APP_HOME
COPY src/ ./src/
COPY *.conf conf/
COPY --chown=1234:2345 run.sh /usr/local/bin/run.sh
ADD archive.tar.gz /opt/
RUN echo "greeting=$GREETING home=$APP_HOME" > /built.txt
RUN ["/bin/sh", "-c", "echo exec-form >> /built.txt"]
EXPOSE 8080 9090/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=3s CMD true
USER 1234
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /built.txt src/a.txt conf/x.conf conf/y.conf /opt/pkg/inner.txt; id -u; pwd"]
`,
			"src/a.txt":      "A",
			"x.conf":         "X",
			"y.conf":         "Y",
			"run.sh":         "#!/bin/sh\necho run\n",
			"archive.tar.gz": string(arch),
		})
		out := c.buildOK(dir, "-t", img, "--build-arg", "GREETING=hello")
		c.wantContains(out, "Successfully built", "build output")
		c.wantContains(out, "Successfully tagged "+img, "build output")
		got := c.ok(runArgs("--rm", img)...)
		want := "greeting=hello home=/srv/app\nexec-form\nAXYfrom-archive1234\n/srv/app"
		c.wantEq(got, want, "run of the built image")
		ls := c.ok(runArgs("--rm", "--entrypoint", "ls", img, "-ln", "/usr/local/bin/run.sh")...)
		c.wantContains(ls, "1234     2345", "COPY --chown")
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Config.Labels}}", img), "map[org.example.greeting:hello version:1.0]", "labels")
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Config.StopSignal}} {{.Config.User}} {{.Config.WorkingDir}} {{.Author}}", img),
			"SIGUSR1 1234 /srv/app someone@example.com", "config")
		c.wantEq(c.ok("image", "inspect", "--format", "{{json .Config.ExposedPorts}} {{json .Config.Volumes}}", img),
			`{"8080/tcp":{},"9090/udp":{}} {"/data":{}}`, "ports and volumes")
		c.wantContains(c.ok("image", "inspect", "--format", "{{json .Config.Healthcheck}}", img), `"Interval":30000000000`, "healthcheck")
	}},
	{"cmd-entrypoint-shell-forms", func(c *tcase) {
		img := c.image("bce")
		dir := c.buildDir(map[string]string{"Dockerfile": `FROM busybox
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT echo entry
CMD ["ignored"]
`})
		c.buildOK(dir, "-t", img)
		c.wantEq(c.ok("image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", img),
			`["/bin/sh","-ec","echo entry"] ["ignored"]`, "shell form uses SHELL")
		c.wantEq(c.ok(runArgs("--rm", img)...), "entry", "shell-form entrypoint ignores CMD")
		img2 := c.image("bce2")
		dir2 := c.buildDir(map[string]string{"Dockerfile": "FROM " + img + "\nENTRYPOINT [\"echo\", \"e\"]\n"})
		c.buildOK(dir2, "-t", img2)
		c.wantEq(c.ok("image", "inspect", "--format", "{{json .Config.Cmd}}", img2), "null", "new ENTRYPOINT resets inherited CMD")
	}},
	{"multi-stage-target-and-from", func(c *tcase) {
		img := c.image("bms")
		dir := c.buildDir(map[string]string{"Dockerfile": `FROM busybox AS base
RUN echo base > /base.txt

FROM base AS tools
RUN echo tool > /tool.txt

FROM busybox AS unused
RUN echo unused-stage-ran

FROM scratch AS final
COPY --from=tools /tool.txt /base.txt /out/
COPY --from=0 /bin/busybox /bin/busybox

FROM final AS last
COPY --from=unused /etc/passwd /nope
`})
		out := c.buildOK(dir, "-t", img, "--target", "final")
		if env.daemon.Target == testutil.TargetBerthd && strings.Contains(out, "unused-stage-ran") {
			c.Errorf("a stage the target does not need was built:\n%s", out)
		}
		c.wantEq(c.ok(runArgs("--rm", "--entrypoint", "/bin/busybox", img, "cat", "/out/tool.txt", "/out/base.txt")...), "tool\nbase", "files copied from stages")
		r := c.run("build", "--target", "nosuch", dir)
		if r.Code == 0 || !strings.Contains(r.Stderr, "target nosuch") {
			c.Errorf("unknown target: %s", r)
		}
	}},
	{"more-forms", func(c *tcase) {
		img := c.image("bmf")
		dir := c.buildDir(map[string]string{
			"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nENV LEGACY legacy form value\nRUN echo one `\n    two > /escaped\n" +
				"RUN echo \"proxy=$HTTP_PROXY\" > /proxy\nCOPY --from=busybox /bin/busybox /copied-from-image\nCOPY stamp.txt /stamp.txt\n",
			"stamp.txt": "s",
		})
		stamp := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
		os.Chtimes(filepath.Join(dir, "stamp.txt"), stamp, stamp)
		c.buildOK(dir, "-t", img, "--build-arg", "HTTP_PROXY=http://proxy.invalid:3128")
		c.wantEq(c.ok(runArgs("--rm", img, "sh", "-c", "echo $LEGACY; cat /escaped /proxy")...),
			"legacy form value\none two\nproxy=http://proxy.invalid:3128", "ENV legacy form, escape directive, proxy build arg")
		if h := c.ok("history", "--no-trunc", img); strings.Contains(h, "proxy.invalid") {
			c.Errorf("a proxy build arg leaked into the history:\n%s", h)
		}
		c.wantEq(c.ok(runArgs("--rm", img, "sh", "-c", "cmp /bin/busybox /copied-from-image && echo same")...), "same", "COPY --from=<image>")
		c.wantEq(c.ok(runArgs("--rm", img, "date", "-u", "-r", "/stamp.txt", "+%Y-%m-%d %H:%M:%S")...), "2020-02-03 04:05:06", "COPY keeps mtime")
	}},
	{"symlinks-stay-inside", func(c *tcase) {
		img := c.image("bsl")
		host := c.tempDir()
		dir := c.buildDir(map[string]string{
			"Dockerfile": "FROM busybox\nRUN ln -s /../../../../.." + host + " /escape\nCOPY f.txt /escape/f.txt\nCOPY linkdir/ /linkdir/\n",
			"f.txt":      "inside",
		})
		os.MkdirAll(filepath.Join(dir, "linkdir"), 0o755)
		os.Symlink("/etc/hostname", filepath.Join(dir, "linkdir", "abs"))
		c.buildOK(dir, "-t", img)
		if _, err := os.Stat(filepath.Join(host, "f.txt")); err == nil {
			c.Fatalf("COPY through a symlink in the image wrote to the host's %s", host)
		}
		c.wantEq(c.ok(runArgs("--rm", img, "cat", host+"/f.txt")...), "inside", "the write stayed in the image")
		c.wantEq(c.ok(runArgs("--rm", img, "readlink", "/linkdir/abs")...), "/etc/hostname", "a symlink is copied as a symlink")
		bad := c.buildDir(map[string]string{"Dockerfile": "FROM busybox\nCOPY hostfile /x\n"})
		os.Symlink("/etc/hostname", filepath.Join(bad, "hostfile"))
		r := c.run("build", bad)
		if r.Code == 0 {
			c.Errorf("COPY of a symlink to a host file outside the context succeeded: %s", r)
		}
	}},
	{"parallel-stages", func(c *tcase) {
		berthdOnly(c)
		// Each stage waits for the other's marker in a shared cache mount:
		// built one after the other, the first would give up and fail.
		key := randHex(8)
		wait := func(me, other string) string {
			return "RUN --mount=type=cache,id=" + key + ",target=/sync touch /sync/" + me + " && for i in $(seq 300); do [ -e /sync/" + other + " ] && exit 0; sleep 0.1; done; exit 1\n"
		}
		img := c.image("bpa")
		dir := c.buildDir(map[string]string{"Dockerfile": "FROM busybox AS a\n" + wait("a", "b") + "RUN echo a > /a\n\nFROM busybox AS b\n" + wait("b", "a") +
			"RUN echo b > /b\n\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"})
		out := c.buildOK(dir, "-t", img)
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/a", "/b")...), "a\nb", "both stages")
		if i, j := strings.Index(out, "Step 2/"), strings.Index(out, "Step 4/"); i < 0 || j < i {
			c.Errorf("stage output is not in Dockerfile order:\n%s", out)
		}
	}},
	{"cache-from-a-loaded-image", func(c *tcase) {
		src := c.image("bcf")
		dir := c.buildDir(map[string]string{
			"Dockerfile": "FROM busybox\nRUN echo " + randHex(6) + " > /r\nCOPY f.txt /f.txt\nENV X=1\nCMD [\"cat\", \"/f.txt\"]\n",
			"f.txt":      "from-cache",
		})
		c.buildOK(dir, "-t", src)
		id := c.ok("image", "inspect", "--format", "{{.Id}}", src)
		// A copy as it would come from a registry: no parent chain, and
		// the builder's own cache cannot serve it.
		tarPath := filepath.Join(c.tempDir(), "src.tar")
		c.ok("save", "-o", tarPath, src)
		c.ok("rmi", src)
		if env.daemon.Target == testutil.TargetBerthd {
			c.ok("builder", "prune", "-a", "-f")
		}
		c.ok("load", "-i", tarPath)
		out := c.buildOK(dir, "-t", src, "--cache-from", src)
		if n := strings.Count(out, "Using cache"); n != 4 {
			c.Errorf("--cache-from: %d steps from the cache, want 4:\n%s", n, out)
		}
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Id}}", src), id, "a fully cached build reproduces the source image")
		c.wantEq(c.ok(runArgs("--rm", src)...), "from-cache", "run")
	}},
	{"from-scratch-only", func(c *tcase) {
		img := c.image("bsc")
		dir := c.buildDir(map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /hello\n", "hello": "hi"})
		c.buildOK(dir, "-t", img)
		c.wantEq(c.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", img), "1", "one layer")
	}},
	{"cache-hits-and-misses", func(c *tcase) {
		img := c.image("bca")
		tag := randHex(6)
		dir := c.buildDir(map[string]string{
			"Dockerfile": "FROM busybox\nRUN echo " + tag + " > /first\nCOPY early.txt /early.txt\nRUN echo second > /second\nCOPY late.txt /late.txt\nRUN cat /late.txt > /final\n",
			"early.txt":  "early",
			"late.txt":   "late-1",
		})
		first := c.buildOK(dir, "-t", img)
		if strings.Contains(first, "Using cache") {
			c.Errorf("first build used the cache:\n%s", first)
		}
		id1 := c.ok("image", "inspect", "--format", "{{.Id}}", img)
		second := c.buildOK(dir, "-t", img)
		if n := strings.Count(second, "Using cache"); n != 5 {
			c.Errorf("fully cached rebuild: %d cache hits, want 5:\n%s", n, second)
		}
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Id}}", img), id1, "cached rebuild gives the same image")
		os.WriteFile(filepath.Join(dir, "late.txt"), []byte("late-2"), 0o644)
		third := c.buildOK(dir, "-t", img)
		if n := strings.Count(third, "Using cache"); n != 3 {
			c.Errorf("after changing late.txt: %d cache hits, want 3 (the steps before COPY late.txt):\n%s", n, third)
		}
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/final")...), "late-2", "rebuilt content")
		nocache := c.buildOK(dir, "-t", img, "--no-cache")
		if strings.Contains(nocache, "Using cache") {
			c.Errorf("--no-cache used the cache:\n%s", nocache)
		}
	}},
	{"build-args-and-quiet", func(c *tcase) {
		img := c.image("bq")
		dir := c.buildDir(map[string]string{"Dockerfile": "FROM busybox\nARG V=default\nRUN echo \"v=$V\" > /v\n"})
		r := c.run("build", "-q", "-t", img, "--build-arg", "V=given", "--build-arg", "UNUSED=1", dir)
		if r.Code != 0 {
			c.Fatalf("build -q: %s", r)
		}
		id := strings.TrimSpace(r.Stdout)
		if !strings.HasPrefix(id, "sha256:") || strings.Contains(id, "\n") {
			c.Errorf("build -q printed %q, want only the image ID", r.Stdout)
		}
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/v")...), "v=given", "--build-arg")
		c.wantEq(c.ok("image", "inspect", "--format", "{{.Id}}", img), id, "-q ID is the image")
	}},
	{"onbuild-triggers", func(c *tcase) {
		parent := c.image("bop")
		child := c.image("boc")
		c.buildOK(c.buildDir(map[string]string{"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /trig\n"}), "-t", parent)
		c.buildOK(c.buildDir(map[string]string{"Dockerfile": "FROM " + parent + "\n"}), "-t", child)
		c.wantEq(c.ok(runArgs("--rm", child, "cat", "/trig")...), "triggered", "ONBUILD ran in the child build")
		c.wantEq(c.ok("image", "inspect", "--format", "{{len .Config.OnBuild}}", child), "0", "triggers are not inherited further")
	}},
	{"add-url", func(c *tcase) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", "Tue, 01 Jan 2019 00:00:00 GMT")
			fmt.Fprint(w, "downloaded-content")
		}))
		c.Cleanup(srv.Close)
		img := c.image("bau")
		c.buildOK(c.buildDir(map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/files/remote.txt /dl/\n"}), "-t", img)
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/dl/remote.txt")...), "downloaded-content", "ADD URL")
		c.wantContains(c.ok(runArgs("--rm", img, "ls", "-l", "/dl/remote.txt")...), "-rw-------", "ADD URL file mode")
	}},
	{"friendlyhello", func(c *tcase) {
		// The seed's friendlyhello, on busybox: the app is a CGI script
		// answering with the NAME from ENV.
		img := c.image("friendlyhello")
		dir := c.buildDir(map[string]string{
			"Dockerfile": `FROM busybox
WORKDIR /app
COPY . /app
RUN chmod +x /app/cgi-bin/index.cgi
EXPOSE 80
ENV NAME World
CMD ["httpd", "-f", "-p", "80", "-h", "/app"]
`,
			"cgi-bin/index.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"Hello $NAME!\"\n",
			"index.html":        "static",
		})
		c.buildOK(dir, "-t", img)
		n := c.name("fh")
		p := freePort(c.T)
		c.ok("run", "-d", "--name", n, "-p", fmt.Sprintf("127.0.0.1:%d:80", p), img)
		c.wantEq(c.httpGet(fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/index.cgi", p)), "Hello World!", "the app answers on the published port")
	}},
	{"failures-leave-nothing", func(c *tcase) {
		keep := c.sleeper("bkeep")
		probe := newLeftoverProbe(c, keep)
		cases := []struct {
			name, dockerfile string
			code             int
			msgs             []string
		}{
			{"syntax", "FROM busybox\nRUNN echo\n", 1, []string{"line 2", "RUNN"}},
			{"missing-copy-source", "FROM busybox\nCOPY nothere.txt /x\n", 1, []string{"nothere.txt"}},
			{"failing-run", "FROM busybox\nRUN echo visible-output; exit 3\n", 3,
				[]string{"visible-output", "/bin/sh -c echo visible-output; exit 3", "returned a non-zero code: 3"}},
			{"unknown-from-stage", "FROM busybox\nCOPY --from=nosuchstage-xyz /a /a\n", 1, []string{"nosuchstage-xyz"}},
			{"copy-outside-context", "FROM busybox\nCOPY ../outside /x\n", 1, []string{"outside"}},
		}
		for _, bc := range cases {
			c.Run(bc.name, func(t *testing.T) {
				sub := newCase(t, c.dr)
				dir := sub.buildDir(map[string]string{"Dockerfile": bc.dockerfile})
				before := probe.snapshot(sub)
				var r0 testutil.Result
				for _, extra := range [][]string{nil, {"--force-rm"}} {
					r := sub.run(append(append([]string{"build"}, extra...), dir)...)
					if extra == nil {
						r0 = r
					}
					if r.Code != bc.code {
						t.Errorf("%v: exit %d, want %d: %s", extra, r.Code, bc.code, r)
					}
					for _, m := range bc.msgs {
						if !strings.Contains(r.Stdout+r.Stderr, m) {
							t.Errorf("%v: output lacks %q: %s", extra, m, r)
						}
					}
				}
				if bc.name == "syntax" && env.daemon.Target == testutil.TargetBerthd && !strings.Contains(r0.Stderr, "Dockerfile") {
					t.Errorf("a syntax error names the Dockerfile: %s", r0)
				}
				// dockerd keeps a failed RUN's container without --force-rm;
				// berthd never leaves one.
				// A failed RUN's monitor may still be finishing when the
				// answer arrives; give it a moment to exit on its own.
				after := probe.snapshot(sub)
				for i := 0; i < 50 && env.daemon.Target == testutil.TargetBerthd && diffState(before, after) != ""; i++ {
					time.Sleep(200 * time.Millisecond)
					after = probe.snapshot(sub)
				}
				if env.daemon.Target != testutil.TargetBerthd {
					// dockerd removes cgroups lazily; compare its containers only.
					before, after = map[string][]string{"containers": before["containers"]}, map[string][]string{"containers": after["containers"]}
				}
				if d := diffState(before, after); d != "" && (env.daemon.Target == testutil.TargetBerthd || bc.name != "failing-run") {
					t.Errorf("state left behind by a failed build:\n%s", d)
				}
				had := map[string]bool{}
				for _, id := range before["containers"] {
					had[id] = true
				}
				for _, id := range after["containers"] {
					if !had[id] {
						sub.run("rm", "-f", id)
					}
				}
			})
		}
	}},
	{"heredocs-and-run-mounts", func(c *tcase) {
		berthdOnly(c)
		img := c.image("bhm")
		key := randHex(6)
		dir := c.buildDir(map[string]string{
			"Dockerfile": `FROM busybox
COPY <<EOF /etc/motd
welcome
EOF
RUN <<EOS
set -e
echo script-ran > /script.txt
EOS
RUN --mount=type=cache,id=` + key + `,target=/cache echo x >> /cache/log && wc -l < /cache/log | tr -d ' ' > /cachecount
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/d.txt > /bound.txt
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && test ! -e /scratch-left
COPY --chmod=0750 data/d.txt /chmod.txt
`,
			"data/d.txt": "bound-data",
		})
		c.buildOK(dir, "-t", img)
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/etc/motd", "/script.txt", "/cachecount", "/bound.txt")...),
			"welcome\nscript-ran\n1\nbound-data", "heredocs and mounts")
		c.wantEq(c.ok(runArgs("--rm", img, "ls", "/mnt", "/cache")...), "/cache:\n\n/mnt:", "mount targets are empty in the image")
		c.wantContains(c.ok(runArgs("--rm", img, "ls", "-l", "/chmod.txt")...), "-rwxr-x---", "COPY --chmod")
		// The cache mount persists: a --no-cache rebuild sees the first run's file.
		c.buildOK(dir, "-t", img, "--no-cache")
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/cachecount")...), "2", "cache mount kept between builds")
	}},
	{"cache-in-df-and-prune", func(c *tcase) {
		berthdOnly(c)
		img := c.image("bpr")
		dir := c.buildDir(map[string]string{
			"Dockerfile": "FROM busybox\nCOPY v.txt /v.txt\nRUN head -c 300000 /dev/zero > /blob\n",
			"v.txt":      randHex(4),
		})
		c.buildOK(dir, "-t", img)
		c.wantContains(c.ok("system", "df"), "Build Cache", "system df")
		// Rebuilding with a changed file moves the tag: the old chain is
		// now only cache, and its 300 kB RUN layer is reclaimable.
		os.WriteFile(filepath.Join(dir, "v.txt"), []byte(randHex(4)), 0o644)
		c.buildOK(dir, "-t", img)
		df := c.ok("system", "df", "--format", "{{.Type}} {{.Reclaimable}}")
		c.wantContains(df, "Build Cache 30", "the old chain's RUN layer is reclaimable cache")
		out := c.ok("builder", "prune", "-f")
		c.wantContains(out, "Total reclaimed space: 30", "builder prune reclaims the old RUN layer")
		c.wantContains(c.ok("system", "df", "--format", "{{.Type}} {{.Reclaimable}}"), "Build Cache 0B", "nothing left to reclaim")
		c.wantEq(c.ok(runArgs("--rm", img, "wc", "-c", "/blob")...), "300000 /blob", "the tagged image is intact")
	}},
}

// The layer cache survives a daemon restart.
func TestBuildCacheSurvivesRestart(t *testing.T) {
	o := newOwnDaemon(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo once > /once\nCOPY Dockerfile /df\n"), 0o644)
	o.ok("build", "-t", "cached:1", dir)
	if err := o.d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	o.start()
	r := o.dr.Run(context.Background(), nil, "build", "-t", "cached:1", dir)
	if r.Code != 0 || strings.Count(r.Stdout, "Using cache") != 2 {
		t.Fatalf("rebuild after restart should hit the cache twice: %s", r)
	}
}

// POST /build?remote= as docker-py and compose v1 send it: the daemon
// fetches a tarball or a plain Dockerfile itself and applies .dockerignore.
func TestBuildRemoteParam(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	ctxTar := tarGz(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\nRUN ls /ctx | tr '\\n' ' ' > /listing\n",
		"keep.txt":      "k",
		"secret.txt":    "s",
		".dockerignore": "secret.txt\n",
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ctx.tar.gz":
			w.Write(ctxTar)
		case "/Dockerfile":
			fmt.Fprint(w, "FROM busybox\nRUN echo from-remote-dockerfile > /r\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dr := env.drivers[0]
	build := func(remote, tag string) string {
		t.Helper()
		status, b := buildRemote(t, remote, tag)
		if status != 200 || strings.Contains(b, "errorDetail") {
			t.Fatalf("build remote=%s: %d %s", remote, status, b)
		}
		t.Cleanup(func() { dr.Run(context.Background(), nil, "rmi", "-f", tag) })
		return b
	}
	build(srv.URL+"/ctx.tar.gz", "remote-tar:t")
	want := "Dockerfile keep.txt"
	if env.daemon.Target != testutil.TargetBerthd {
		// dockerd trusts the client to apply .dockerignore; berthd, like
		// BuildKit, applies it to every context.
		want = "Dockerfile keep.txt secret.txt"
	}
	if got := dr.Run(context.Background(), nil, runArgs("--rm", "remote-tar:t", "cat", "/listing")...).Out(); got != want {
		t.Errorf("remote tarball context: /ctx holds %q, want the Dockerfile and keep.txt (secret.txt is in .dockerignore)", got)
	}
	build(srv.URL+"/Dockerfile", "remote-df:t")
	if got := dr.Run(context.Background(), nil, runArgs("--rm", "remote-df:t", "cat", "/r")...).Out(); got != "from-remote-dockerfile" {
		t.Errorf("remote Dockerfile: got %q", got)
	}
	// A git URL: the daemon clones it (through the same fetcher as the
	// CLI), the default ref and a "#tag:subdir" fragment.
	git := newContextServer(t)
	build(git.url+"/repo.git", "remote-git:t")
	if got := dr.Run(context.Background(), nil, runArgs("--rm", "remote-git:t", "cat", "/root.txt")...).Out(); got != "git-root" {
		t.Errorf("remote git context: /root.txt is %q", got)
	}
	build(git.url+"/repo.git#v1:app", "remote-git-app:t")
	if got := dr.Run(context.Background(), nil, runArgs("--rm", "remote-git-app:t", "cat", "/app/app.txt")...).Out(); got != "git-app" {
		t.Errorf("remote git context #v1:app: /app/app.txt is %q", got)
	}
}

// FROM an image that is only in a registry pulls it, with X-Registry-Config
// from the client; --pull fetches it again.
func TestBuildPullsBase(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	host := pushFixture(t)
	forEachDriver(t, []scenario{{"from-registry", func(c *tcase) {
		base := host + "/demo/bb:v1"
		c.Cleanup(func() { c.dr.Run(c.ctx, nil, "rmi", "-f", base) })
		c.run("rmi", "-f", base)
		img := c.image("bpl")
		dir := c.buildDir(map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo pulled > /p\n"})
		out := c.buildOK(dir, "-t", img)
		c.wantContains(out, "Pulling from demo/bb", "FROM pulls the missing base")
		c.wantEq(c.ok(runArgs("--rm", img, "cat", "/p")...), "pulled", "built on the pulled base")
		out = c.buildOK(dir, "-t", img, "--pull")
		c.wantContains(out, "Image is up to date", "--pull checks the registry again")
	}}})
}
