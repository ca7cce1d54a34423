package api

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

const dockerCLI = "/usr/local/bin/docker"

// runDocker runs the real docker CLI against the test server with a
// private config dir so the host's contexts and credentials play no part.
func runDocker(t *testing.T, ts *testServer, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerCLI, args...)
	cmd.Env = append(os.Environ(),
		"DOCKER_HOST=unix://"+ts.sock,
		"DOCKER_CONFIG="+t.TempDir(),
		"DOCKER_CONTEXT=",
		"DOCKER_API_VERSION=",
		"DOCKER_CLI_HINTS=false",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDockerCLI(t *testing.T) {
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skip("docker CLI not installed")
	}
	fake := &fakeBackend{}
	ts := startServer(t, fake)

	out := runDocker(t, ts, "version")
	for _, want := range []string{
		"API version:       1.50\n", // client side, not downgraded
		"Engine:",
		"Version:          0.0.1-test",
		"API version:      1.50 (minimum version 1.24)",
		"Git commit:       abc1234",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("docker version output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "downgraded") {
		t.Errorf("client downgraded its API version:\n%s", out)
	}

	out = runDocker(t, ts, "ps")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID") {
		t.Fatalf("docker ps output:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if f[0] != strings.Repeat("a", 12) || f[1] != "busybox" || f[len(f)-1] != "web1" || !strings.Contains(lines[1], `"sleep 100"`) {
		t.Fatalf("docker ps row %q", lines[1])
	}

	out = runDocker(t, ts, "ps", "-a", "-q", "--filter", "status=running")
	if strings.TrimSpace(out) != strings.Repeat("a", 12) {
		t.Fatalf("docker ps -q: %q", out)
	}
	fake.mu.Lock()
	got := fake.lastList
	fake.mu.Unlock()
	if !got.All || !got.Filters.ExactMatch("status", "running") || got.Filters.Len() != 1 {
		t.Fatalf("docker ps -a --filter reached the backend as %+v", got)
	}
}

// TestDockerRunAttach drives create, attach (hijack with half-close), wait
// and start through the real CLI: stdin reaches the backend, output comes
// back demultiplexed, and the exit code comes from the wait body.
func TestDockerRunAttach(t *testing.T) {
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skip("docker CLI not installed")
	}
	fake := &fakeBackend{waitCh: make(chan container.WaitResponse, 1)}
	fake.waitCh <- container.WaitResponse{StatusCode: 3}
	ts := startServer(t, fake)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerCLI, "run", "--rm", "-i", "busybox", "cat")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+ts.sock, "DOCKER_CONFIG="+t.TempDir())
	cmd.Stdin = strings.NewReader("hi there\n")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("docker run: err %v, stderr %q", err, stderr.String())
	}
	if stdout.String() != "got:hi there\n" || stderr.String() != "bye\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	fake.mu.Lock()
	calls := strings.Join(fake.calls, "; ")
	fake.mu.Unlock()
	for _, want := range []string{"create  busybox", "wait " + strings.Repeat("c", 64) + " removed", "start " + strings.Repeat("c", 64)} {
		if !strings.Contains(calls, want) {
			t.Fatalf("calls %q lack %q", calls, want)
		}
	}
}
