package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var randomName = regexp.MustCompile(`\.dockerfile\.[0-9a-f]{20}`)

// buildSpy is a fake Engine API on a unix socket that records each
// POST /build and answers with a canned classic-builder stream.
type buildSpy struct {
	host string
	mu   sync.Mutex
	reqs []spiedBuild
}

type spiedBuild struct {
	query   url.Values
	ctype   string
	regConf map[string]any
	files   map[string]string // tar entry → content ("" for dirs)
}

func newBuildSpy(t *testing.T) *buildSpy {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "spy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &buildSpy{host: "unix://" + sock}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *buildSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.50")
	w.Header().Set("Ostype", "linux")
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		w.Write([]byte("OK"))
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/build") {
		http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
		return
	}
	rec := spiedBuild{query: r.URL.Query(), ctype: r.Header.Get("Content-Type"), files: map[string]string{}}
	if df := rec.query.Get("dockerfile"); df != "" {
		rec.query.Set("dockerfile", randomName.ReplaceAllString(df, "RANDOM"))
	}
	if b, err := base64.URLEncoding.DecodeString(r.Header.Get("X-Registry-Config")); err == nil {
		json.Unmarshal(b, &rec.regConf)
	}
	body := bufio.NewReader(r.Body)
	var in io.Reader = body
	if magic, _ := body.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in = zr
		rec.files["(gzip)"] = ""
	}
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		// A Dockerfile from stdin or outside the context gets a random name.
		rec.files[randomName.ReplaceAllString(h.Name, "RANDOM")] = randomName.ReplaceAllString(string(b), "RANDOM")
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	switch {
	case rec.query.Get("q") == "1":
		enc.Encode(map[string]any{"stream": "sha256:" + strings.Repeat("ab", 32) + "\n"})
	case rec.query.Get("target") == "fail":
		for _, m := range []string{"Step 1/2 : FROM busybox", "\n", " ---> 050f015d5a36\n", "Step 2/2 : RUN exit 3", "\n", " ---> Running in 8da4adb8359c\n", "out\n"} {
			enc.Encode(map[string]any{"stream": m})
		}
		msg := "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
		enc.Encode(map[string]any{"errorDetail": map[string]any{"code": 3, "message": msg}, "error": msg})
	default:
		for _, m := range []string{"Step 1/2 : FROM busybox", "\n", " ---> 050f015d5a36\n", "Step 2/2 : RUN echo hi", "\n",
			" ---> Running in 8da4adb8359c\n", "hi\n", "Removing intermediate container 8da4adb8359c\n", " ---> e153c9340d5f\n"} {
			enc.Encode(map[string]any{"stream": m})
		}
		enc.Encode(map[string]any{"status": "pulling", "id": "layer", "progressDetail": map[string]any{"current": 1, "total": 2}})
		enc.Encode(map[string]any{"aux": map[string]any{"ID": "sha256:e153c9340d5f" + strings.Repeat("0", 52)}})
		for _, tag := range rec.query["t"] {
			enc.Encode(map[string]any{"stream": "Successfully tagged " + tag + "\n"})
		}
	}
}

func (s *buildSpy) last(t *testing.T) spiedBuild {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("no POST /build received")
	}
	r := s.reqs[len(s.reqs)-1]
	s.reqs = nil
	return r
}

type cliRun struct {
	out, err string
	code     int
}

func runDockerCLI(t *testing.T, host, stdin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerCLI, append([]string{"-H", host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CLI_HINTS=false", "DOCKER_BUILDKIT=0")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cliRun{out.String(), errb.String(), ee.ExitCode()}
	} else if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return cliRun{out.String(), errb.String(), 0}
}

func runBerthCLI(host, stdin string, args ...string) cliRun {
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"-H", host}, args...), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return cliRun{out.String(), errb.String(), code}
}

// TestBuildWireLikeDocker sends the same builds through docker CLI 28 and
// berth to a recording fake daemon, and wants the same POST /build: query
// parameters, Content-Type, X-Registry-Config and tar entries; and the same
// stdout and exit code for the canned answers.
func TestBuildWireLikeDocker(t *testing.T) {
	if _, err := exec.LookPath(dockerCLI); err != nil {
		t.Skip("docker CLI not installed")
	}
	spy := newBuildSpy(t)
	cfg := t.TempDir()
	conf := `{"auths":{"reg.example:5000":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:p")) + `"}},
	  "proxies":{"default":{"httpProxy":"http://proxy:3128","noProxy":"localhost"}}}`
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("FROMENV", "env-value")
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "")
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile": "FROM busybox\n", "sub/My.Dockerfile": "FROM busybox\nRUN echo hi\n", "a.txt": "a",
		"skip.log": "x", "keep.log": "k", ".dockerignore": "*.log\n!keep.log\nsub\n", "outside/Dockerfile": "FROM outside\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	t.Chdir(dir)
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile.x", Mode: 0o644, Size: 5})
	tw.Write([]byte("FROM\n"))
	tw.Close()

	cases := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"all-flags", "", []string{"build", "-t", "a", "-t", "reg.example:5000/b:1", "-f", "sub/My.Dockerfile",
			"--build-arg", "V=1", "--build-arg", "FROMENV", "--build-arg", "NOTSET", "--label", "x=y", "--label", "bare",
			"--target", "final", "--no-cache", "--pull", "--rm=false", "--force-rm", "--network", "host",
			"--add-host", "h1:1.2.3.4", "--add-host", "h2=::1", "--shm-size", "64m", "-m", "128m", "--memory-swap", "-1",
			"--cpu-shares", "5", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0", "--cpuset-mems", "0",
			"--cache-from", "img1,img2", "--ulimit", "nofile=100:200", "--platform", "linux/AMD64",
			"--security-opt", "seccomp=unconfined", "--cgroup-parent", "cg", "."}},
		{"defaults", "", []string{"build", "."}},
		{"outside-dockerfile", "", []string{"build", "-f", "outside/Dockerfile", "sub"}},
		{"dockerfile-on-stdin", "FROM busybox\nRUN true\n", []string{"build", "-t", "s", "-"}},
		{"tar-on-stdin", ctxTar.String(), []string{"build", "-f", "Dockerfile.x", "-"}},
		{"f-stdin-with-dir", "FROM stdin\n", []string{"build", "-f", "-", "."}},
		{"compress", "", []string{"build", "--compress", "."}},
		{"quiet", "", []string{"build", "-q", "."}},
		{"failure", "", []string{"build", "--target", "fail", "."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := runDockerCLI(t, spy.host, c.stdin, c.args...)
			dr := spy.last(t)
			b := runBerthCLI(spy.host, c.stdin, c.args...)
			br := spy.last(t)
			t.Logf("docker sent %v", dr.query)
			if !reflect.DeepEqual(dr.query, br.query) {
				t.Errorf("query:\ndocker %v\nberth  %v", dr.query, br.query)
			}
			if dr.ctype != br.ctype || !reflect.DeepEqual(dr.regConf, br.regConf) {
				t.Errorf("headers: docker %q %v, berth %q %v", dr.ctype, dr.regConf, br.ctype, br.regConf)
			}
			if !reflect.DeepEqual(dr.files, br.files) {
				t.Errorf("tar:\ndocker %v\nberth  %v", sortedKeys(dr.files), sortedKeys(br.files))
			}
			// The size varies with the sub-second times of an added Dockerfile.
			if sizeOf(d.out) != sizeOf(b.out) || d.code != b.code {
				t.Errorf("docker (exit %d):\n%q\n%s\nberth (exit %d):\n%q\n%s", d.code, d.out, d.err, b.code, b.out, b.err)
			}
			if d.code != 0 && !strings.Contains(b.err, "returned a non-zero code: 3") {
				t.Errorf("berth stderr: %q", b.err)
			}
		})
	}
}

var contextSize = regexp.MustCompile(`(Sending build context to Docker daemon) +[0-9.]+[kMG]?B`)

func sizeOf(out string) string { return contextSize.ReplaceAllString(out, "$1 SIZE") }

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}
