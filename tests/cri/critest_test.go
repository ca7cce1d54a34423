package cri

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// localRegistry runs bin/berth-registry on a free loopback port with its
// storage in dir, and returns host:port. It stops with the test.
func localRegistry(t *testing.T, dir string) string {
	t.Helper()
	// A fixed address (BERTH_CRITEST_REGISTRY_ADDR) lets another runtime's
	// config name it, see scripts/critest-containerd.sh.
	addr := os.Getenv("BERTH_CRITEST_REGISTRY_ADDR")
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	cmd := exec.Command(filepath.Join(testutil.BinDir(env.d.RepoDir), "berth-registry"), "serve", "--addr", addr, "--root", filepath.Join(dir, "registry"))
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("berth-registry: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("berth-registry did not listen on %s", addr)
	return ""
}

// pushStandIns puts critest's two configurable images into the local
// registry: busybox (the default test image) and a busybox httpd serving
// "Welcome to nginx!" on port 80 (the web server image); and a pause image
// (bin/berth-pause) for runtimes that need one (containerd's sandbox_image).
func pushStandIns(t *testing.T, ctx context.Context, reg, dir string) (busybox, web string) {
	t.Helper()
	dr := testutil.DockerDriver(env.d, env.cfgDir)
	busybox, web, pause := reg+"/e2e/busybox:1.36.1-1", reg+"/e2e/nginx:1.14-2", reg+"/e2e/pause:3.10"
	ctxDir := filepath.Join(dir, "web")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "index.html"), []byte("<h1>Welcome to nginx!</h1>\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+busybox+"\nCOPY index.html /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n"), 0o644)
	pauseDir := filepath.Join(dir, "pause")
	os.MkdirAll(pauseDir, 0o755)
	pb, err := os.ReadFile(filepath.Join(testutil.BinDir(env.d.RepoDir), "berth-pause"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pauseDir, "pause"), pb, 0o755)
	os.WriteFile(filepath.Join(pauseDir, "Dockerfile"), []byte("FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n"), 0o644)
	// critest's busybox: applets as hard links (its MaskedPaths spec masks
	// /bin/ls), plus pgrep and ipcs, which Debian's busybox lacks.
	var tarBuf bytes.Buffer
	if err := testutil.BusyboxTarWith(&tarBuf, true, map[string]string{"/bin/pgrep": pgrepScript, "/bin/ipcs": ipcsScript}); err != nil {
		t.Fatal(err)
	}
	if r := dr.Run(ctx, &tarBuf, "import", "-c", `CMD ["sh"]`, "-", busybox); r.Code != 0 {
		t.Fatalf("stand-in busybox: %s", r)
	}
	steps := [][]string{
		{"push", busybox},
		{"build", "-q", "-t", web, ctxDir},
		{"push", web},
		{"build", "-q", "-t", pause, pauseDir},
		{"push", pause},
		{"rmi", busybox, web, pause},
	}
	for _, s := range steps {
		if r := dr.Run(ctx, nil, s...); r.Code != 0 {
			t.Fatalf("stand-in images: %s", r)
		}
	}
	return busybox, web
}

const pgrepScript = `#!/bin/sh
# pgrep stand-in: the pids of the processes named $1.
[ -n "$1" ] || exit 2
found=1
for d in /proc/[0-9]*; do
	read -r comm < "$d/comm" 2>/dev/null || continue
	if [ "$comm" = "$1" ]; then echo "${d#/proc/}"; found=0; fi
done
exit $found
`

const ipcsScript = `#!/bin/sh
# ipcs stand-in: the kernel's System V IPC tables of this IPC namespace.
case "$1" in
-m) cat /proc/sysvipc/shm ;;
-q) cat /proc/sysvipc/msg ;;
-s) cat /proc/sysvipc/sem ;;
*) cat /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem ;;
esac
`

// shmIDs lists the host's System V shared memory segments (critest's
// HostIpc specs make some with ipcmk and leave them).
func shmIDs() map[string]bool {
	b, _ := os.ReadFile("/proc/sysvipc/shm")
	ids := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 1 {
			ids[f[1]] = true
		}
	}
	return ids
}

// specResult is one critest spec from its ginkgo JSON report.
type specResult struct {
	Name    string
	State   string
	Message string
}

func readGinkgoReport(path string) ([]specResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reports []struct {
		SpecReports []struct {
			ContainerHierarchyTexts []string
			LeafNodeText            string
			LeafNodeType            string
			State                   string
			Failure                 struct{ Message string }
		}
	}
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, err
	}
	var out []specResult
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != "It" {
				continue
			}
			name := strings.TrimSpace(strings.Join(append(s.ContainerHierarchyTexts, s.LeafNodeText), " "))
			msg := s.Failure.Message
			if i := strings.IndexByte(msg, '\n'); i > 0 && len(msg) > 300 && os.Getenv("BERTH_CRITEST_FOCUS") == "" {
				msg = msg[:i]
			}
			out = append(out, specResult{Name: name, State: s.State, Message: msg})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readSpecList reads testdata/critest-*.txt: one spec name a line, # comments.
func readSpecList(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m, sc.Err()
}

// TestCritest runs the CRI validation suite against berthd with local
// stand-in images. Every spec listed in testdata/critest-containerd-passes.txt
// (those Debian's containerd passes on this machine, see docs/cri.md) must
// pass; the full result is written to the log (and to $BERTH_CRITEST_REPORT).
func TestCritest(t *testing.T) {
	bin := kubeBin("critest")
	if bin == "" {
		t.Skip("critest not built: run `make kube` (scripts/kube-build.sh) to fill /var/cache/berth-kube/*/bin; skipping the CRI validation suite")
	}
	ctx := ctxT(t)
	dir := t.TempDir()
	reg := localRegistry(t, dir)
	busybox, web := pushStandIns(t, ctx, reg, dir)
	imagesFile := filepath.Join(dir, "images.yaml")
	os.WriteFile(imagesFile, []byte(fmt.Sprintf("defaultTestContainerImage: %s\nwebServerTestImage: %s\n", busybox, web)), 0o644)
	report := filepath.Join(dir, "report.json")
	endpoint := "unix://" + env.sock
	if e := os.Getenv("BERTH_CRITEST_ENDPOINT"); e != "" {
		// Another runtime (scripts/critest-containerd.sh): its results
		// are only reported, not checked.
		endpoint = e
	}
	args := []string{
		"--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
		"--test-images-file", imagesFile,
		"--ginkgo.no-color", "--ginkgo.json-report", report, "--ginkgo.timeout", "25m",
	}
	if f := os.Getenv("BERTH_CRITEST_FOCUS"); f != "" {
		args = append(args, "--ginkgo.focus", f)
	}
	shmBefore := shmIDs()
	defer func() {
		for id := range shmIDs() {
			if !shmBefore[id] {
				exec.Command("ipcrm", "-m", id).Run()
			}
		}
	}()
	rctx, cancel := context.WithTimeout(context.Background(), 28*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	os.WriteFile(filepath.Join(dir, "critest.log"), out, 0o644)
	results, rerr := readGinkgoReport(report)
	if rerr != nil {
		t.Fatalf("critest (%v) wrote no report: %v\n%s", err, rerr, tail(string(out), 4000))
	}
	mustPass, lerr := readSpecList("testdata/critest-containerd-passes.txt")
	if lerr != nil {
		t.Fatalf("spec list: %v", lerr)
	}
	var lines []string
	passed := 0
	for _, r := range results {
		if r.State == "passed" {
			passed++
		}
		lines = append(lines, fmt.Sprintf("%-8s %s\t%s", r.State, r.Name, r.Message))
		if mustPass[r.Name] && r.State != "passed" && os.Getenv("BERTH_CRITEST_ENDPOINT") == "" && os.Getenv("BERTH_CRITEST_FOCUS") == "" {
			t.Errorf("critest spec that containerd passes failed on berth: %s: %s", r.Name, r.Message)
		}
	}
	t.Logf("critest: %d of %d specs passed\n%s", passed, len(results), strings.Join(lines, "\n"))
	if p := os.Getenv("BERTH_CRITEST_REPORT"); p != "" {
		os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	}
	cleanupPods(context.Background(), env)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
