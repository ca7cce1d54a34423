package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// Every way `build` gets its context (a directory with .dockerignore, a tar
// or a Dockerfile on stdin, -f paths, a tarball or Dockerfile URL, a git
// URL) and the flags the client turns into POST /build parameters, through
// the docker CLI and berth. The CLI prepares the context itself, so the URL
// and git servers run here, on loopback.
func TestBuildContext(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	srv := newContextServer(t)
	forEachDriver(t, []scenario{
		{"dir-dockerignore", buildDirDockerignore},
		{"stdin-tar", buildStdinTar},
		{"stdin-dockerfile", buildStdinDockerfile},
		{"file-flag-paths", buildFileFlagPaths},
		{"dockerfile-stdin-with-dir", buildDockerfileStdinWithDir},
		{"tarball-url", func(c *tcase) { buildTarballURL(c, srv) }},
		{"git-url", func(c *tcase) { buildGitURL(c, srv) }},
		{"build-arg-label", buildArgsAndLabels},
		{"tags-quiet-iidfile", buildTagsQuietIIDFile},
		{"bad-input", buildBadInput},
	})
}

// bctx is a temp dir filled with files (name → content).
func (c *tcase) bctx(files map[string]string) string {
	c.Helper()
	dir := c.tempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.Fatal(err)
		}
		c.writeFile(filepath.Dir(p), filepath.Base(p), content)
	}
	return dir
}

// runAt runs the CLI in dir with stdin in and extra environment.
func (c *tcase) runAt(dir string, in io.Reader, extraEnv []string, args ...string) testutil.Result {
	c.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	cmd := c.dr.Command(ctx, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, c.dr.Env...), extraEnv...)
	var so, se bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &so, &se
	err := cmd.Run()
	r := testutil.Result{Args: args, Stdout: so.String(), Stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		r.Code = -1
		r.Stderr += "\n[harness] " + err.Error()
	}
	return r
}

// build runs a build that must succeed and returns its result.
func (c *tcase) build(dir string, in io.Reader, args ...string) testutil.Result {
	c.Helper()
	r := c.runAt(dir, in, nil, append([]string{"build"}, args...)...)
	if r.Code != 0 {
		c.Fatalf("build failed: %s", r)
	}
	return r
}

// runImage runs cmd in img and returns its trimmed output.
func (c *tcase) runImage(img string, cmd ...string) string {
	c.Helper()
	return c.ok(runArgs(append([]string{"--rm", img}, cmd...)...)...)
}

// rmiAtCleanup removes an image by ID (builds without -t leave no name).
func (c *tcase) rmiAtCleanup(id string) {
	c.Cleanup(func() { c.dr.Run(context.Background(), nil, "rmi", "-f", strings.TrimSpace(id)) })
}

func tarOf(c *tcase, files map[string]string) []byte {
	c.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(1700000000, 0)}); err != nil {
			c.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		c.Fatal(err)
	}
	return buf.Bytes()
}

// An ignored file is absent from the image, an exception is present, and
// the Dockerfile listed in .dockerignore is sent (the build works) but not
// copied.
func buildDirDockerignore(c *tcase) {
	dir := c.bctx(map[string]string{
		"Dockerfile":          "FROM busybox\nCOPY . /ctx/\n",
		".dockerignore":       "*.secret\n!keep.secret\nDockerfile\ncache/\n",
		"app.txt":             "app\n",
		"drop.secret":         "no\n",
		"keep.secret":         "yes\n",
		"cache/blob":          "no\n",
		"sub/nested.secret":   "kept: *.secret only matches at the root\n",
		"sub/dir/.hidden.txt": "h\n",
	})
	img := c.image("bctx-dir")
	out := c.build(dir, nil, "-t", img, dir).Stdout
	c.wantContains(out, "Sending build context to Docker daemon", "upload line")
	c.wantContains(out, "Successfully tagged "+img, "tag line")
	got := c.runImage(img, "sh", "-c", "cd /ctx && find . -type f | sort")
	c.wantEq(strings.Join(strings.Fields(got), " "),
		"./.dockerignore ./app.txt ./keep.secret ./sub/dir/.hidden.txt ./sub/nested.secret", "files copied")
}

func buildStdinTar(c *tcase) {
	ctxTar := tarOf(c, map[string]string{
		"a.txt":             "from-tar\n",
		"sub/My.Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt\n",
	})
	img := c.image("bctx-tar")
	out := c.build("", bytes.NewReader(ctxTar), "-t", img, "-f", "sub/My.Dockerfile", "-").Stdout
	c.wantContains(out, "from-tar", "RUN output")
	c.wantEq(c.runImage(img, "cat", "/a.txt"), "from-tar", "copied file")
}

func buildStdinDockerfile(c *tcase) {
	img := c.image("bctx-stdin")
	out := c.build("", strings.NewReader("FROM busybox\nRUN echo from-stdin > /f\n"), "-t", img, "-").Stdout
	c.wantContains(out, "Step 2/2 : RUN echo from-stdin > /f", "step line")
	c.wantEq(c.runImage(img, "cat", "/f"), "from-stdin", "built file")
	// -f with a Dockerfile on stdin is ambiguous.
	r := c.runAt("", strings.NewReader("FROM busybox\n"), nil, "build", "-f", "Other", "-")
	if r.Code != 1 || !strings.Contains(r.Stderr, "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles") {
		c.Errorf("-f with a stdin Dockerfile: %s", r)
	}
}

// -f is relative to the working directory, not to the context; a
// Dockerfile outside the context is sent under a name COPY never sees.
func buildFileFlagPaths(c *tcase) {
	root := c.bctx(map[string]string{
		"ctx/a.txt":                 "a\n",
		"ctx/docker/Dockerfile.dev": "FROM busybox\nCOPY a.txt /from-sub\n",
		"outside/Dockerfile":        "FROM busybox\nCOPY . /ctx/\n",
	})
	img := c.image("bctx-sub")
	c.build(root, nil, "-t", img, "-f", "ctx/docker/Dockerfile.dev", "ctx")
	c.wantEq(c.runImage(img, "cat", "/from-sub"), "a", "built from a sub-directory Dockerfile")

	img2 := c.image("bctx-out")
	c.build(filepath.Join(root, "outside"), nil, "-t", img2, "-f", "Dockerfile", "../ctx")
	got := c.runImage(img2, "sh", "-c", "cd /ctx && find . -type f | sort")
	c.wantEq(strings.Join(strings.Fields(got), " "), "./a.txt ./docker/Dockerfile.dev", "context of an outside Dockerfile")

	r := c.runAt(root, nil, nil, "build", "-f", "nope/Dockerfile", "ctx")
	if r.Code != 1 || !strings.Contains(r.Stderr, "unable to prepare context: unable to evaluate symlinks in Dockerfile path") {
		c.Errorf("missing -f file: %s", r)
	}
}

func buildDockerfileStdinWithDir(c *tcase) {
	dir := c.bctx(map[string]string{"a.txt": "with-dir\n", ".dockerignore": "*.log\n", "x.log": "no\n"})
	img := c.image("bctx-fstdin")
	c.build(dir, strings.NewReader("FROM busybox\nCOPY . /ctx/\n"), "-t", img, "-f", "-", ".")
	got := c.runImage(img, "sh", "-c", "cd /ctx && find . -type f | sort")
	// The stdin Dockerfile's random name is listed in .dockerignore, so
	// only the user's files are copied.
	c.wantEq(strings.Join(strings.Fields(got), " "), "./.dockerignore ./a.txt", "files copied")
}

// contextServer serves a context tarball, a bare Dockerfile and a git
// repository (dumb HTTP) on loopback.
type contextServer struct {
	url string
}

func newContextServer(t *testing.T) *contextServer {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range []struct{ name, content string }{
		{"a.txt", "from-url-tar\n"}, {"My.Dockerfile", "FROM busybox\nCOPY a.txt /a.txt\n"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.content)), ModTime: time.Unix(1700000000, 0)})
		tw.Write([]byte(f.content))
	}
	tw.Close()
	write("www/ctx.tar", tb.String())
	write("www/Dockerfile", "FROM busybox\nRUN echo from-url > /f\n")
	makeGitRepo(t, filepath.Join(root, "work"), filepath.Join(root, "www", "repo.git"))
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(root, "www"))))
	t.Cleanup(srv.Close)
	return &contextServer{url: srv.URL}
}

// makeGitRepo commits a small tree (a context at the root and another in
// app/) on master, tags it v1, and publishes it as a bare repository a
// plain file server can serve (git update-server-info).
func makeGitRepo(t *testing.T, work, bare string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (scripts/install-deps.sh)")
	}
	files := map[string]string{
		"Dockerfile":     "FROM busybox\nCOPY root.txt /root.txt\n",
		"root.txt":       "git-root\n",
		"app/Dockerfile": "FROM busybox\nCOPY . /app/\n",
		"app/app.txt":    "git-app\n",
	}
	for name, content := range files {
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "master")
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "context")
	git(work, "tag", "v1")
	git(work, "clone", "-q", "--bare", work, bare)
	git(bare, "update-server-info")
}

func buildTarballURL(c *tcase, srv *contextServer) {
	img := c.image("bctx-url")
	c.build("", nil, "-t", img, "-f", "My.Dockerfile", srv.url+"/ctx.tar")
	c.wantEq(c.runImage(img, "cat", "/a.txt"), "from-url-tar", "file from the tarball")

	img2 := c.image("bctx-urldf")
	out := c.build("", nil, "-t", img2, srv.url+"/Dockerfile").Stdout
	c.wantContains(out, "Downloading build context from remote url: "+srv.url+"/Dockerfile", "download line")
	c.wantEq(c.runImage(img2, "cat", "/f"), "from-url", "built from a Dockerfile URL")

	r := c.runAt("", nil, nil, "build", srv.url+"/missing.tar")
	if r.Code != 1 || !strings.Contains(r.Stderr, "unable to download remote context "+srv.url+"/missing.tar") ||
		!strings.Contains(r.Stderr, "404 Not Found") {
		c.Errorf("missing URL: %s", r)
	}
}

func buildGitURL(c *tcase, srv *contextServer) {
	// The CLI clones into $TMPDIR: a private one shows what it leaves.
	tmp := c.tempDir()
	build := func(args ...string) testutil.Result {
		c.Helper()
		return c.runAt("", nil, []string{"TMPDIR=" + tmp}, append([]string{"build"}, args...)...)
	}
	img := c.image("bctx-git")
	if r := build("-t", img, srv.url+"/repo.git"); r.Code != 0 {
		c.Fatalf("build: %s", r)
	}
	c.wantEq(c.runImage(img, "cat", "/root.txt"), "git-root", "file from the repository root")

	img2 := c.image("bctx-gitsub")
	if r := build("-t", img2, srv.url+"/repo.git#v1:app"); r.Code != 0 {
		c.Fatalf("build: %s", r)
	}
	got := c.runImage(img2, "sh", "-c", "cd /app && find . -type f | sort")
	c.wantEq(strings.Join(strings.Fields(got), " "), "./Dockerfile ./app.txt", "context from #v1:app")

	r := build(srv.url + "/repo.git#master:nosuchdir")
	if r.Code != 1 || !strings.Contains(r.Stderr, "unable to prepare context") {
		c.Errorf("missing sub-directory: %s", r)
	}
	// docker CLI 28 removes only the sub-directory of a "#ref:dir" clone
	// and leaks the rest (the temp dir's cleanup takes it); berth must
	// leave nothing.
	if left, _ := os.ReadDir(tmp); c.dr.Name == "berth" && len(left) > 0 {
		c.Errorf("clone directories left behind: %v", left)
	}
}

func buildArgsAndLabels(c *tcase) {
	dir := c.bctx(map[string]string{
		"Dockerfile": "FROM busybox\nARG V=default\nARG FROMENV\nARG UNSET=keep\nRUN echo \"$V $FROMENV $UNSET\" > /args\nLABEL base=1\n",
	})
	img := c.image("bctx-args")
	r := c.runAt(dir, nil, []string{"FROMENV=from-env"},
		"build", "-t", img, "--build-arg", "V=given", "--build-arg", "FROMENV", "--build-arg", "UNSET",
		"--label", "x=y", "--label", "empty", ".")
	if r.Code != 0 {
		c.Fatalf("build: %s", r)
	}
	// A bare KEY takes its value from the environment; unset there, the
	// ARG default stays.
	c.wantEq(c.runImage(img, "cat", "/args"), "given from-env keep", "build args")
	c.wantEq(c.inspect(img, `{{json .Config.Labels}}`), `{"base":"1","empty":"","x":"y"}`, "labels")
}

func buildTagsQuietIIDFile(c *tcase) {
	dir := c.bctx(map[string]string{"Dockerfile": "FROM busybox\nRUN echo quiet-step > /q\n"})
	t1, t2 := c.image("bctx-t1"), c.image("bctx-t2")
	out := c.build(dir, nil, "-t", t1, "-t", t2, ".").Stdout
	c.wantContains(out, "Successfully tagged "+t1, "first tag")
	c.wantContains(out, "Successfully tagged "+t2, "second tag")
	id := c.inspect(t1, "{{.Id}}")
	c.wantEq(c.inspect(t2, "{{.Id}}"), id, "both tags name one image")

	// -q prints the ID and nothing else, on stdout.
	r := c.build(dir, nil, "-q", "--no-cache", ".")
	qid := strings.TrimSpace(r.Stdout)
	c.rmiAtCleanup(qid)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(qid) || strings.Count(r.Stdout, "\n") != 1 {
		c.Errorf("-q output: %q", r.Stdout)
	}
	if qid == id {
		c.Errorf("--no-cache built the same image %s", qid)
	}

	iid := filepath.Join(c.tempDir(), "iid")
	c.build(dir, nil, "--iidfile", iid, "-t", t1, ".")
	b, err := os.ReadFile(iid)
	if err != nil {
		c.Fatal(err)
	}
	c.wantEq(string(b), c.inspect(t1, "{{.Id}}"), "iidfile")

	// A failed build removes a stale ID file rather than leave it.
	bad := c.bctx(map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing-step; exit 3\n"})
	before := c.ok("ps", "-aq")
	r = c.runAt(bad, nil, nil, "build", "--force-rm", "--iidfile", iid, ".")
	if r.Code != 3 || !strings.Contains(r.Stderr, "returned a non-zero code: 3") || !strings.Contains(r.Stdout, "failing-step") {
		c.Errorf("failing RUN: want exit 3 with the message on stderr: %s", r)
	}
	if _, err := os.Stat(iid); !os.IsNotExist(err) {
		c.Errorf("iidfile left after a failed build: %v", err)
	}
	c.wantEq(c.ok("ps", "-aq"), before, "containers after a failed build with --force-rm")

	// -q on failure: the output goes to stderr, stdout stays empty.
	r = c.runAt(bad, nil, nil, "build", "-q", "--force-rm", ".")
	if r.Code != 3 || r.Stdout != "" || !strings.Contains(r.Stderr, "failing-step") {
		c.Errorf("-q failing build: %s", r)
	}
}

func buildBadInput(c *tcase) {
	before := c.imageIDs()
	r := c.code(1, "build", "/no/such/dir")
	c.wantContains(r.Stderr, `unable to prepare context: path "/no/such/dir" not found`, "missing path")

	r = c.runAt("", strings.NewReader("FROM busybox\n"), nil, "build", "-f", "-", "-")
	if r.Code != 1 || !strings.Contains(r.Stderr, "invalid argument: can't use stdin for both build context and dockerfile") {
		c.Errorf("stdin twice: %s", r)
	}
	dir := c.bctx(map[string]string{"Dockerfile": "FROM busybox\n"})
	for _, bad := range [][]string{
		{"-t", "Bad:Tag"}, {"--label", "=v"}, {"--build-arg", "=v"}, {"--add-host", "nohost"}, {"-m", "lots"},
	} {
		r := c.run(append(append([]string{"build"}, bad...), dir)...)
		if r.Code != 125 || !strings.Contains(r.Stderr, "invalid argument") {
			c.Errorf("%v: want exit 125 and a flag error: %s", bad, r)
		}
	}
	r = c.run("build")
	if r.Code != 1 || !strings.Contains(r.Stderr, "requires 1 argument") {
		c.Errorf("no argument: %s", r)
	}
	c.wantEq(c.imageIDs(), before, "images after bad input")
}
