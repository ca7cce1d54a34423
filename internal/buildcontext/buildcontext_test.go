package buildcontext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tarFiles reads a context tar into name → content (directories as "").
func tarFiles(t *testing.T, c *Context) map[string]string {
	t.Helper()
	defer c.Close()
	out := map[string]string{}
	tr := tar.NewReader(c.Tar)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		out[strings.TrimSuffix(h.Name, "/")] = string(b)
	}
}

func names(m map[string]string) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDockerignoreRules(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Dockerfile":        "FROM busybox\n",
		".dockerignore":     "# comment\n*.log\n!keep.log\nsecret/\nbuild/**/*.o\n.dockerignore\nDockerfile\n",
		"app.txt":           "app",
		"debug.log":         "no",
		"keep.log":          "yes",
		"secret/key":        "no",
		"build/a/b/x.o":     "no",
		"build/a/b/x.c":     "yes",
		"sub/nested.log":    "yes: *.log only matches at the root",
		"sub/dir/file.text": "yes",
	})
	c, err := FromDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dockerfile != "Dockerfile" {
		t.Errorf("Dockerfile = %q", c.Dockerfile)
	}
	got := tarFiles(t, c)
	for _, want := range []string{"Dockerfile", ".dockerignore", "app.txt", "keep.log", "build/a/b/x.c", "sub/nested.log", "sub/dir/file.text"} {
		if _, ok := got[want]; !ok {
			t.Errorf("%s missing from %v", want, names(got))
		}
	}
	for _, gone := range []string{"debug.log", "secret/key", "secret", "build/a/b/x.o"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s sent though ignored: %v", gone, names(got))
		}
	}
}

func TestKeepBuildFiles(t *testing.T) {
	got := KeepBuildFiles([]string{"*", "!src"}, "docker/Dockerfile.dev", false)
	want := []string{"*", "!src", "!.dockerignore", "!docker/Dockerfile.dev"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := KeepBuildFiles([]string{"*.md"}, "Dockerfile", false); len(got) != 1 {
		t.Errorf("nothing to keep: %v", got)
	}
	if got := KeepBuildFiles([]string{"*"}, "-", true); strings.Join(got, ",") != "*,!.dockerignore" {
		t.Errorf("stdin Dockerfile must not be forced in: %v", got)
	}
	if got := KeepBuildFiles(nil, "Dockerfile", false); got != nil {
		t.Errorf("no patterns: %v", got)
	}
}

func TestDockerfileFromSubdirAndOutside(t *testing.T) {
	dir := writeTree(t, map[string]string{"ctx/a.txt": "a", "ctx/sub/My.Dockerfile": "FROM busybox\n", "outside/Dockerfile": "FROM outside\n"})
	t.Chdir(dir)
	c, err := FromDir("ctx", Options{Dockerfile: "ctx/sub/My.Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dockerfile != "sub/My.Dockerfile" {
		t.Errorf("Dockerfile = %q", c.Dockerfile)
	}
	tarFiles(t, c)

	// A Dockerfile outside the context is sent under a random name, and
	// .dockerignore (created) hides that name from COPY.
	c, err = FromDir("ctx", Options{Dockerfile: "outside/Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	name := c.Dockerfile
	if !strings.HasPrefix(name, ".dockerfile.") || len(name) != len(".dockerfile.")+20 {
		t.Fatalf("Dockerfile = %q", name)
	}
	got := tarFiles(t, c)
	if got[name] != "FROM outside\n" {
		t.Errorf("%s = %q", name, got[name])
	}
	if got[".dockerignore"] != ".dockerignore\n"+name+"\n" {
		t.Errorf(".dockerignore = %q", got[".dockerignore"])
	}

	_, err = FromDir("ctx", Options{Dockerfile: "nope"})
	if err == nil || !strings.Contains(err.Error(), "unable to evaluate symlinks in Dockerfile path: lstat ") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	_, err = FromDir("ctx/a.txt", Options{})
	if err == nil || !strings.Contains(err.Error(), "context must be a directory") {
		t.Errorf("file as context: %v", err)
	}
}

func TestLowercaseDockerfileFallback(t *testing.T) {
	dir := writeTree(t, map[string]string{"dockerfile": "FROM busybox\n"})
	c, err := FromDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Dockerfile != "dockerfile" {
		t.Errorf("Dockerfile = %q", c.Dockerfile)
	}
}

func TestDockerfileFromStdinWithDir(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.txt": "a", ".dockerignore": "*.log"})
	c, err := FromDir(dir, Options{Dockerfile: "-", Stdin: strings.NewReader("FROM stdin\n")})
	if err != nil {
		t.Fatal(err)
	}
	name := c.Dockerfile
	got := tarFiles(t, c)
	if got[name] != "FROM stdin\n" || got["a.txt"] != "a" {
		t.Errorf("files: %v", got)
	}
	if got[".dockerignore"] != "*.log\n"+name+"\n" {
		t.Errorf(".dockerignore = %q", got[".dockerignore"])
	}
}

func TestStdinForms(t *testing.T) {
	// A bare Dockerfile becomes a one-file tar named Dockerfile.
	c, err := FromReader(strings.NewReader("FROM busybox\nRUN true\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Dockerfile != "Dockerfile" {
		t.Errorf("Dockerfile = %q", c.Dockerfile)
	}
	if got := tarFiles(t, c); len(got) != 1 || got["Dockerfile"] != "FROM busybox\nRUN true\n" {
		t.Errorf("wrapped: %v", got)
	}

	// A tar is passed through byte for byte, with -f as given.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "My.Dockerfile", Mode: 0o644, Size: 4})
	tw.Write([]byte("FROM"))
	tw.Close()
	orig := append([]byte(nil), buf.Bytes()...)
	c, err = FromReader(bytes.NewReader(orig), "My.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := io.ReadAll(c.Tar)
	if !bytes.Equal(sent, orig) || c.Dockerfile != "My.Dockerfile" {
		t.Errorf("tar changed (%d → %d bytes) or Dockerfile %q", len(orig), len(sent), c.Dockerfile)
	}

	// A gzip stream counts as an archive.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(orig)
	zw.Close()
	if !IsArchive(gz.Bytes()[:10]) {
		t.Error("gzip not detected")
	}

	if _, err := FromReader(strings.NewReader("FROM x\n"), "Other"); err == nil || !strings.Contains(err.Error(), "ambiguous Dockerfile source") {
		t.Errorf("-f with a stdin Dockerfile: %v", err)
	}
	if _, err := New(context.Background(), "-", Options{Dockerfile: "-", Stdin: strings.NewReader("")}); err == nil ||
		err.Error() != "invalid argument: can't use stdin for both build context and dockerfile" {
		t.Errorf("both on stdin: %v", err)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]Kind{
		"-":                                    KindStdin,
		dir:                                    KindLocal,
		"https://example.com/repo.git":         KindGit,
		"http://127.0.0.1:8080/r.git#main:sub": KindGit,
		"git://example.com/repo":               KindGit,
		"git@github.com:o/r.git":               KindGit,
		"github.com/o/r":                       KindGit,
		"http://127.0.0.1:8080/ctx.tar":        KindRemote,
		"https://example.com/Dockerfile":       KindRemote,
		"https://example.com/x.git/Dockerfile": KindRemote,
	}
	for spec, want := range cases {
		got, err := Detect(spec)
		if err != nil || got != want {
			t.Errorf("Detect(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	if _, err := Detect("no/such/dir"); err == nil || err.Error() != `unable to prepare context: path "no/such/dir" not found` {
		t.Errorf("missing path: %v", err)
	}
}

func TestParseGitURL(t *testing.T) {
	cases := []struct {
		in               string
		url, ref, subdir string
	}{
		{"https://h/r.git", "https://h/r.git", "master", ""},
		{"https://h/r.git#v1", "https://h/r.git", "v1", ""},
		{"https://h/r.git#:docker", "https://h/r.git", "master", "docker"},
		{"https://h/r.git#dev:a/b", "https://h/r.git", "dev", "a/b"},
		{"https://h/r.git#pull/42/head", "https://h/r.git", "pull/42/head", ""},
		{"github.com/o/r", "https://github.com/o/r", "master", ""},
		{"git@github.com:o/r.git#main:x", "git@github.com:o/r.git", "main", "x"},
		{"git://h/r#t", "git://h/r", "t", ""},
	}
	for _, c := range cases {
		g, err := ParseGitURL(c.in)
		if err != nil || g.URL != c.url || g.Ref != c.ref || g.Subdir != c.subdir {
			t.Errorf("ParseGitURL(%q) = %+v, %v", c.in, g, err)
		}
	}
	if _, err := ParseGitURL("https://h/r.git#--upload-pack=x"); err == nil {
		t.Error("a ref starting with - must be refused")
	}
}

// bareRepo makes a repository with a master branch and a v1 tag and
// returns its bare clone, prepared for dumb HTTP (git update-server-info).
func bareRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	work := writeTree(t, map[string]string{"Dockerfile": "FROM root\n", "sub/Dockerfile": "FROM sub\n", "sub/f": "f", ".dockerignore": "ignored"})
	os.WriteFile(filepath.Join(work, "ignored"), []byte("x"), 0o644)
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(work, "init", "-q", "-b", "master")
	run(work, "add", "-A")
	run(work, "commit", "-q", "-m", "one")
	run(work, "tag", "v1")
	bare := filepath.Join(t.TempDir(), "r.git")
	run(work, "clone", "-q", "--bare", work, bare)
	run(bare, "update-server-info")
	return bare
}

// gitRepo serves bareRepo with a plain file server (dumb HTTP) and returns its URL.
func gitRepo(t *testing.T) string {
	t.Helper()
	bare := bareRepo(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(bare))))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(bare)
}

// A smart HTTP server (git http-backend over CGI) gets a shallow fetch; a
// plain file server does not.
func TestFromGitSmartHTTP(t *testing.T) {
	bare := bareRepo(t)
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skip("git --exec-path:", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skip("no git-http-backend")
	}
	smart := httptest.NewServer(&cgi.Handler{Path: backend,
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1"}})
	defer smart.Close()
	dumb := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(bare))))
	defer dumb.Close()
	ctx := context.Background()
	if !shallowOK(ctx, http.DefaultClient, smart.URL+"/r.git") {
		t.Error("git http-backend not detected as a smart server")
	}
	if shallowOK(ctx, http.DefaultClient, dumb.URL+"/r.git") {
		t.Error("a plain file server detected as smart")
	}
	c, err := New(ctx, smart.URL+"/r.git#master:sub", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, c); got["Dockerfile"] != "FROM sub\n" {
		t.Errorf("files: %v", got)
	}
}

func TestFromGit(t *testing.T) {
	repo := gitRepo(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the clones go
	ctx := context.Background()
	c, err := New(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindGit || c.Dockerfile != "Dockerfile" {
		t.Errorf("kind %q Dockerfile %q", c.Kind, c.Dockerfile)
	}
	got := tarFiles(t, c)
	if got["Dockerfile"] != "FROM root\n" || got["sub/f"] != "f" {
		t.Errorf("files: %v", names(got))
	}
	if _, ok := got["ignored"]; ok {
		t.Error(".dockerignore not applied")
	}

	c, err = New(ctx, repo+"#v1:sub", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, c); got["Dockerfile"] != "FROM sub\n" || len(got) != 2 {
		t.Errorf("subdir files: %v", got)
	}

	for _, bad := range []string{repo + "#nosuchref", repo + "#master:nosuchdir", repo + "#master:../.."} {
		if _, err := New(ctx, bad, Options{}); err == nil || !strings.HasPrefix(err.Error(), "unable to prepare context: ") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := New(ctx, repo, Options{Dockerfile: "../x"}); err == nil {
		t.Error("a Dockerfile outside a git context must be refused")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("clone dirs left behind: %v", left)
	}
}

func TestFromURL(t *testing.T) {
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	tw.WriteHeader(&tar.Header{Name: "My.Dockerfile", Mode: 0o644, Size: 5})
	tw.Write([]byte("FROM\n"))
	tw.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ctx.tar", func(w http.ResponseWriter, _ *http.Request) { w.Write(ctxTar.Bytes()) })
	mux.HandleFunc("/Dockerfile", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "FROM busybox\n") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	var finals int
	c, err := New(ctx, srv.URL+"/ctx.tar", Options{Dockerfile: "My.Dockerfile", Download: func(n, total int64, done bool) {
		if done {
			finals++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindRemote || c.Dockerfile != "My.Dockerfile" {
		t.Errorf("kind %q Dockerfile %q", c.Kind, c.Dockerfile)
	}
	sent, _ := io.ReadAll(c.Tar)
	c.Close()
	if !bytes.Equal(sent, ctxTar.Bytes()) || finals != 1 {
		t.Errorf("tarball not passed through (%d bytes) or progress ended %d times", len(sent), finals)
	}

	c, err = New(ctx, srv.URL+"/Dockerfile", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, c); got["Dockerfile"] != "FROM busybox\n" || len(got) != 1 {
		t.Errorf("wrapped Dockerfile: %v", got)
	}

	_, err = New(ctx, srv.URL+"/missing", Options{})
	if err == nil || !strings.Contains(err.Error(), "unable to download remote context "+srv.URL+"/missing: failed to GET") ||
		!strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("404: %v", err)
	}
}
