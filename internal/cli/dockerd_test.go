package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

const dockerCLI = "/usr/local/bin/docker"

// dockerd is a private real dockerd the comparisons run against.
type dockerd struct {
	host string
	dir  string
}

// startDockerd launches dockerd on a temporary root through the test
// suites' one launcher (tests/testutil) and imports a busybox image;
// everything is removed in cleanup. Skips without root or binaries.
func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, b := range []string{"dockerd", dockerCLI, "/usr/bin/busybox"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not available", b)
		}
	}
	td, err := testutil.StartDaemon(context.Background(), testutil.TargetDockerd)
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{host: "unix://" + td.Sock, dir: td.Dir}
	t.Cleanup(func() {
		// Containers go first, so dockerd's shutdown has none to wait for.
		if out, _, _ := d.docker(t, "", "ps", "-aq"); strings.TrimSpace(out) != "" {
			d.docker(t, "", append([]string{"rm", "-f"}, strings.Fields(out)...)...)
		}
		if err := td.Stop(); err != nil {
			t.Errorf("stop dockerd: %v", err)
		}
	})
	d.importBusybox(t)
	return d
}

func (d *dockerd) importBusybox(t *testing.T) {
	root := filepath.Join(d.dir, "rootfs")
	for _, sub := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "cat", "echo", "sleep", "ls", "id", "hostname", "pwd", "env", "true", "trap"} {
		_ = os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	tarPath := filepath.Join(d.dir, "bb.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	if _, errOut, code := d.docker(t, "", "import", tarPath, "busybox"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
}

// docker runs the real CLI against the daemon.
func (d *dockerd) docker(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerCLI, append([]string{"-H", d.host}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// berth runs our CLI in-process against the daemon.
func (d *dockerd) berth(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, append([]string{"-H", d.host}, args...), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// same runs args through both CLIs and wants equal stdout and exit code.
// Output with relative times can straddle a second, so it retries.
func (d *dockerd) same(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var msg string
	for try := 0; try < 3; try++ {
		o1, e1, c1 := d.docker(t, stdin, args...)
		o2, e2, c2 := d.berth(t, stdin, args...)
		if o1 == o2 && c1 == c2 {
			return o1
		}
		msg = fmt.Sprintf("%v:\ndocker (exit %d):\n%s%s\nberth (exit %d):\n%s%s", args, c1, o1, e1, c2, o2, e2)
		time.Sleep(200 * time.Millisecond)
	}
	t.Error(msg)
	return ""
}
