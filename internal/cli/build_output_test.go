package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestBuildOnTerminal(t *testing.T) {
	spy := newBuildSpy(t)
	cache := t.TempDir()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, self, append([]string{"-H", spy.host, "build"}, args...)...)
		cmd.Env = append(os.Environ(), "BERTH_TEST_AS_CLI=1", "XDG_CACHE_HOME="+cache, "DOCKER_CONFIG="+t.TempDir())
		_, out := startInPty(t, cmd)
		code := waitExit(t, cmd, 20*time.Second)
		time.Sleep(100 * time.Millisecond)
		return strings.ReplaceAll(out.String(), "\r\n", "\n"), code
	}
	out, code := run("-t", "x", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, re := range []string{`Step 1/2 : FROM busybox  ---> 050f015d5a36 [0-9.]+s\n`, `Step 2/2 : RUN echo hi  ---> e153c9340d5f [0-9.]+s\n`,
		`Successfully tagged x\n`, `Sending build context to Docker daemon +[0-9.]+kB\n`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "hi\n") || strings.Contains(out, "Running in") {
		t.Errorf("step output on the terminal:\n%s", out)
	}
	m := regexp.MustCompile(`Build log: (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], cache) {
		t.Fatalf("no build log under %s named in:\n%s", cache, out)
	}
	if b, err := os.ReadFile(m[1]); err != nil || !strings.Contains(string(b), " ---> Running in 8da4adb8359c\nhi\n") {
		t.Errorf("log %s: %v\n%s", m[1], err, b)
	}

	out, code = run("--target", "fail", dir)
	if code != 3 || !strings.Contains(out, "Step 2/2 : RUN exit 3  ERROR\n ---> Running in 8da4adb8359c\nout\n") ||
		!strings.Contains(out, "Build log: ") || !strings.Contains(out, "returned a non-zero code: 3") {
		t.Errorf("failure (exit %d):\n%s", code, out)
	}
}
