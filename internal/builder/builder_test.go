package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/buildcontext"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	digest "github.com/opencontainers/go-digest"
)

func TestParseDockerfileErrorsNameFileLineAndInstruction(t *testing.T) {
	_, err := parseDockerfile("sub/My.Dockerfile", []byte("FROM busybox\nRUNN echo\n"))
	if err == nil || !errdefs.IsInvalid(err) {
		t.Fatalf("want an invalid-argument error, got %v", err)
	}
	for _, want := range []string{"sub/My.Dockerfile", "line 2", "RUNN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := parseDockerfile("Dockerfile", []byte("ARG X=1\n")); err == nil {
		t.Error("a Dockerfile with only ARG must be refused")
	}
	df, err := parseDockerfile("Dockerfile", []byte("# escape=`\nFROM a AS one\nFROM one\n"))
	if err != nil || len(df.stages) != 2 || df.escape != '`' {
		t.Fatalf("parse: %v %+v", err, df)
	}
}

func TestStagesNeededByTarget(t *testing.T) {
	df, err := parseDockerfile("Dockerfile", []byte(`FROM busybox AS base
FROM base AS tools
FROM busybox AS unused
FROM scratch AS final
COPY --from=tools /a /a
COPY --from=0 /b /b
RUN --mount=type=bind,from=unused,target=/m true
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &buildRun{df: df, usedArgs: map[string]bool{}}
	for i := range df.stages {
		s := &stageRun{r: r, index: i, st: &df.stages[i], base: df.stages[i].BaseName}
		if j, ok := r.stageByName(s.base, i); ok {
			s.deps = append(s.deps, j)
		}
		for _, c := range s.st.Commands {
			for _, from := range commandFroms(c) {
				if j, ok := r.stageByName(from, i); ok {
					s.deps = append(s.deps, j)
				}
			}
		}
		r.stages = append(r.stages, s)
	}
	if got := r.needed(1); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("needed(tools) = %v, want [0 1]", got)
	}
	if got := r.needed(3); len(got) != 4 {
		t.Errorf("needed(final) = %v, want all four", got)
	}
	if _, ok := r.stageByName("final", 3); ok {
		t.Error("a stage must not find itself or later stages")
	}
}

func TestRunCommandLineHeredoc(t *testing.T) {
	st := &state{}
	only := &instructions.RunCommand{ShellDependantCmdLine: instructions.ShellDependantCmdLine{
		CmdLine: []string{"<<EOF"}, PrependShell: true,
		Files: []instructions.ShellInlineFile{{Name: "EOF", Data: "echo hi\n"}}}}
	if got := runCommandLine(st, only); strings.Join(got, "|") != "/bin/sh|-c|echo hi\n" {
		t.Errorf("heredoc-only RUN: %q", got)
	}
	fed := &instructions.RunCommand{ShellDependantCmdLine: instructions.ShellDependantCmdLine{
		CmdLine: []string{"cat", "<<EOF"}, PrependShell: true,
		Files: []instructions.ShellInlineFile{{Name: "EOF", Data: "x\n"}}}}
	if got := runCommandLine(st, fed); got[2] != "cat <<EOF\nx\nEOF" {
		t.Errorf("heredoc fed to a command: %q", got[2])
	}
	st.cfg.Shell = []string{"/bin/bash", "-ec"}
	exec := &instructions.RunCommand{ShellDependantCmdLine: instructions.ShellDependantCmdLine{CmdLine: []string{"a", "b"}}}
	if got := runCommandLine(st, exec); strings.Join(got, " ") != "a b" {
		t.Errorf("exec form: %q", got)
	}
}

func TestGlobUsesFilepathMatch(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.conf", "b.conf", "c.txt", "sub/d.conf"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	got, err := glob(dir, "*.conf")
	if err != nil || strings.Join(got, ",") != "a.conf,b.conf" {
		t.Errorf("glob *.conf = %v, %v", got, err)
	}
	if got, _ := glob(dir, "sub/*"); strings.Join(got, ",") != "sub/d.conf" {
		t.Errorf("glob sub/* = %v", got)
	}
	if _, err := glob(dir, "[" /* bad pattern */); err == nil {
		t.Error("a bad pattern must be an error")
	}
}

func TestChecksumIgnoresTimesNotContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("one"), 0o644)
	src := []source{{root: dir, rel: "f", base: "f"}}
	a, err := checksum(src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(p, old, old)
	if b, _ := checksum(src, "", nil); b != a {
		t.Error("a new mtime changed the checksum")
	}
	os.WriteFile(p, []byte("two"), 0o644)
	if c, _ := checksum(src, "", nil); c == a {
		t.Error("new content kept the checksum")
	}
	os.Chmod(p, 0o755)
	c1, _ := checksum(src, "", nil)
	os.Chmod(p, 0o644)
	if c2, _ := checksum(src, "", nil); c1 == c2 {
		t.Error("a mode change kept the checksum")
	}
}

func TestExtractHashingRecordsDigests(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{"a.txt": "aaa", "d/b.txt": "bbbb"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	dir := t.TempDir()
	sums := map[string]fileSum{}
	if err := extractHashing(context.Background(), &buf, dir, sums, nil); err != nil {
		t.Fatal(err)
	}
	a := sums["a.txt"].sum
	h := newContentHash()
	h.Write([]byte("aaa"))
	if len(sums) != 2 || sums["d/b.txt"].size != 4 || !bytes.Equal(h.Sum(nil), a[:]) {
		t.Errorf("sums = %+v", sums)
	}
	// The recorded digests make the same checksum as reading the files.
	src := []source{{root: dir, rel: "d", base: "d", isDir: true}}
	fromDisk, _ := checksum(src, "", nil)
	fromSums, _ := checksum(src, dir, sums)
	if fromDisk != fromSums {
		t.Error("recorded digests and file digests disagree")
	}
}

func TestExtractContextTakesPlainDockerfile(t *testing.T) {
	df, err := extractContext(context.Background(), strings.NewReader("FROM busybox\n"), t.TempDir(), map[string]fileSum{}, nil)
	if err != nil || string(df) != "FROM busybox\n" {
		t.Fatalf("got %q, %v", df, err)
	}
}

func TestApplyDockerignore(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"keep.txt", "logs/a.log", "logs/keep.log", "secret.key", ".dockerignore"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("logs\n!logs/keep.log\n*.key\n"), 0o644)
	if err := applyDockerignore(dir); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"keep.txt": true, "logs/a.log": false, "logs/keep.log": true, "secret.key": false} {
		_, err := os.Stat(filepath.Join(dir, f))
		if (err == nil) != want {
			t.Errorf("%s present=%v, want %v", f, err == nil, want)
		}
	}
}

func TestGitURLDetection(t *testing.T) {
	for s, want := range map[string]bool{
		"git://host/repo": true, "git@host:repo.git": true, "github.com/a/b": true,
		"https://host/repo.git#main:dir": true, "https://host/ctx.tar.gz": false, "./dir": false,
	} {
		if buildcontext.IsGitURL(s) != want {
			t.Errorf("IsGitURL(%q) = %v", s, !want)
		}
	}
}

func TestOrderedSinksReleaseInOrder(t *testing.T) {
	var out bytes.Buffer
	sinks := newOrderedSinks(jsonstream.NewWriter(&out), 3)
	sinks[2].Write([]byte("c"))
	sinks[1].Write([]byte("b"))
	sinks[0].Write([]byte("a"))
	sinks[1].finish()
	if out.String() != "a" {
		t.Fatalf("later stages leaked before the first finished: %q", out.String())
	}
	sinks[0].finish()
	sinks[2].Write([]byte("C"))
	sinks[2].finish()
	if out.String() != "abcC" {
		t.Fatalf("got %q, want abcC", out.String())
	}
}

func TestCachePersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cache.json")
	c, err := openCache(p)
	if err != nil {
		t.Fatal(err)
	}
	id := digest.FromString("img")
	key := cacheKey("parent", "RUN x")
	c.put(key, cacheEntry{Image: id, Description: "RUN x", Size: 10, Layer: true})
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	c2, err := openCache(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.get(key); !ok || got != id {
		t.Fatalf("reopened cache: %v %v", got, ok)
	}
	recs := c2.Records(func(digest.Digest) bool { return true })
	if len(recs) != 1 || recs[0].Size != 10 {
		t.Fatalf("records: %+v", recs)
	}
	if len(c2.Records(func(digest.Digest) bool { return false })) != 0 {
		t.Error("an entry whose image is gone must not be listed")
	}
	c2.Remove(func(CacheRecord) bool { return true })
	c3, _ := openCache(p)
	if _, ok := c3.get(key); ok {
		t.Error("removed entry came back")
	}
	if cacheKey("a", "bc") == cacheKey("ab", "c") {
		t.Error("cache key parts must be delimited")
	}
}

func TestFamiliarTag(t *testing.T) {
	for in, want := range map[string]string{"app": "app:latest", "app:v1": "app:v1", "localhost:5000/app": "localhost:5000/app:latest"} {
		if got := familiarTag(in); got != want {
			t.Errorf("familiarTag(%q) = %q, want %q", in, got, want)
		}
	}
}
