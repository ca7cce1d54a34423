package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const dockerCLI = "/usr/local/bin/docker"

// dockerd is a private real dockerd the comparisons run against.
type dockerd struct {
	host string
	dir  string
}

// startDockerd launches dockerd on a temporary root and imports a busybox
// image; everything is removed in cleanup. Skips without root or binaries.
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
	dir, err := os.MkdirTemp("", "bcli")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{host: "unix://" + filepath.Join(dir, "d.sock"), dir: dir}
	cmd := exec.Command("dockerd", "--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", d.host, "--pidfile", filepath.Join(dir, "d.pid"), "--iptables=false", "--ip6tables=false", "--bridge=none")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t, cmd, logf) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, code := d.docker(t, "", "version"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("dockerd did not come up:\n%s", log)
		}
		time.Sleep(300 * time.Millisecond)
	}
	d.importBusybox(t)
	return d
}

func (d *dockerd) stop(t *testing.T, cmd *exec.Cmd, logf *os.File) {
	if out, _, _ := d.docker(t, "", "ps", "-aq"); strings.TrimSpace(out) != "" {
		d.docker(t, "", append([]string{"rm", "-f"}, strings.Fields(out)...)...)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	logf.Close()
	// dockerd leaves overlay and netns mounts under its roots on some paths.
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var ours []string
		for _, l := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], d.dir+"/") {
				ours = append(ours, f[4])
			}
		}
		for i := len(ours) - 1; i >= 0; i-- {
			_ = unix.Unmount(ours[i], unix.MNT_DETACH)
		}
	}
	_ = os.RemoveAll(d.dir)
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
