// Package testutil starts a private engine daemon (berthd or a real dockerd)
// and drives it through a CLI, for the integration tests and the benchmarks.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/client"
)

// Target names accepted in BERTH_TEST_TARGET.
const (
	TargetBerthd  = "berthd"
	TargetDockerd = "dockerd"
)

// Daemon is one engine daemon on a private data root, exec root and socket.
type Daemon struct {
	Target  string
	Dir     string // temp dir holding everything the daemon owns
	Root    string // --data-root
	Exec    string // --exec-root
	Sock    string // unix socket path
	PidFile string
	LogPath string
	RepoDir string
	cmd     *exec.Cmd
	log     *os.File
	env     []string    // added to the daemon's environment
	netns   string      // network namespace to run the daemon in (BerthdOptions.NetNS)
	bridge  string      // a private dockerd's default bridge, removed by Stop
	icc     *dockerdICC // a private dockerd's inter-container rules, removed by Stop
}

// TargetFromEnv returns the daemon the tests should run against.
func TargetFromEnv() string {
	if v := os.Getenv("BERTH_TEST_TARGET"); v != "" {
		return v
	}
	return TargetBerthd
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// StartDaemon starts target on a fresh short temp dir (socket paths are
// limited to 108 bytes) and waits until it answers /_ping.
func StartDaemon(ctx context.Context, target string) (*Daemon, error) {
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	prefix := "bt"
	if target == TargetDockerd {
		prefix = "dt"
	}
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	d := &Daemon{Target: target, Dir: dir, RepoDir: repo, Exec: filepath.Join(dir, "exec"),
		LogPath: filepath.Join(dir, "daemon.log")}
	var args []string
	var bin string
	switch target {
	case TargetDockerd:
		d.Root, d.Sock, d.PidFile = filepath.Join(dir, "root"), filepath.Join(dir, "d.sock"), filepath.Join(dir, "d.pid")
		bin = "dockerd"
		if d.bridge, err = privateDockerdBridge(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = []string{"--data-root", d.Root, "--exec-root", d.Exec, "-H", "unix://" + d.Sock,
			"--pidfile", d.PidFile, "--iptables=false", "--ip6tables=false", "--bridge=" + d.bridge}
	case TargetBerthd:
		d.Root, d.Sock, d.PidFile = filepath.Join(dir, "data"), filepath.Join(dir, "berth.sock"), filepath.Join(dir, "berthd.pid")
		bin = filepath.Join(BinDir(repo), "berthd")
		args = []string{"--data-root", d.Root, "--exec-root", d.Exec, "-H", "unix://" + d.Sock,
			"--pidfile", d.PidFile, "--group", "root"}
		if rt := os.Getenv("BERTH_TEST_RUNTIME"); rt != "" {
			// Run the whole table on another runtime (e.g. crun).
			args = append(args, "--default-runtime", rt)
		}
	default:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("unknown BERTH_TEST_TARGET %q (want berthd or dockerd)", target)
	}
	if err := d.spawn(bin, args); err != nil {
		_ = removePrivateBridge(d.bridge)
		os.RemoveAll(dir)
		return nil, err
	}
	if err := d.waitReady(ctx, 60*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	if target == TargetDockerd {
		if d.icc, err = startDockerdICC(ctx, d); err != nil {
			d.Stop()
			return nil, fmt.Errorf("private dockerd's inter-container rules: %w", err)
		}
	}
	return d, nil
}

// StartDockerdInNetNS starts a private dockerd, on a fresh temp dir as
// StartDaemon does, inside the network namespace bind-mounted at netns,
// with extra flags instead of the harness's private bridge. Only there may a
// test give dockerd flags that act on the namespace's links: --bridge=none
// deletes any link named docker0 when dockerd starts, which in the host's
// namespace is the host dockerd's bridge. Stop it with Stop, then delete
// the namespace.
func StartDockerdInNetNS(ctx context.Context, netns string, extra ...string) (*Daemon, error) {
	if netns == "" {
		return nil, errors.New("StartDockerdInNetNS: no network namespace")
	}
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("/tmp", "dt")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	d := &Daemon{Target: TargetDockerd, Dir: dir, RepoDir: repo, Exec: filepath.Join(dir, "exec"),
		Root: filepath.Join(dir, "root"), Sock: filepath.Join(dir, "d.sock"), PidFile: filepath.Join(dir, "d.pid"),
		LogPath: filepath.Join(dir, "daemon.log"), netns: netns}
	args := append([]string{"--data-root", d.Root, "--exec-root", d.Exec, "-H", "unix://" + d.Sock,
		"--pidfile", d.PidFile, "--iptables=false", "--ip6tables=false"}, extra...)
	if err := d.spawn("dockerd", args); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := d.waitReady(ctx, 60*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) spawn(bin string, args []string) error {
	logf, err := os.Create(d.LogPath)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	if d.netns != "" {
		args = append([]string{"--net=" + d.netns, "--", bin}, args...)
		bin = "nsenter"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(d.env) > 0 {
		cmd.Env = append(os.Environ(), d.env...)
	}
	// Own process group so a test binary crash does not take the terminal's signals to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	d.cmd, d.log = cmd, logf
	go cmd.Wait() //nolint:errcheck // reaped here so Stop can poll for exit
	return nil
}

func (d *Daemon) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.cmd.ProcessState != nil {
			return fmt.Errorf("%s exited early; log:\n%s", d.Target, d.LogTail(4000))
		}
		if c, err := net.DialTimeout("unix", d.Sock, time.Second); err == nil {
			fmt.Fprintf(c, "GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n")
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.Contains(string(buf[:n]), " 200 ") {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s; log:\n%s", d.Target, timeout, d.LogTail(4000))
}

// Client is an Engine API client of the daemon (internal/client, the
// CLI's own), negotiated; tests and benches call endpoints through it.
func (d *Daemon) Client(ctx context.Context) (*client.Client, error) {
	c, err := client.New("unix://" + d.Sock)
	if err != nil {
		return nil, err
	}
	return c, c.Negotiate(ctx)
}

// Pid is the daemon's pid from its pidfile, falling back to the one we started.
func (d *Daemon) Pid() int {
	if b, err := os.ReadFile(d.PidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return pid
		}
	}
	if d.cmd != nil && d.cmd.Process != nil {
		return d.cmd.Process.Pid
	}
	return 0
}

// LogTail returns the last n bytes of the daemon's log.
func (d *Daemon) LogTail(n int) string {
	b, _ := os.ReadFile(d.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop sends SIGTERM to the pid in the pidfile, SIGKILL after 20s, then
// removes leftovers (mounts under the temp dir) and the temp dir itself.
func (d *Daemon) Stop() error {
	var errs []error
	if d.icc != nil {
		if err := d.icc.stop(); err != nil {
			errs = append(errs, err)
		}
		d.icc = nil
	}
	if pid := d.Pid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(pid, 20*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
	if d.log != nil {
		d.log.Close()
	}
	if err := removePrivateBridge(d.bridge); err != nil {
		errs = append(errs, err)
	}
	// A stopped berthd leaves no iptables rule behind.
	if left, err := d.IptablesLeftovers(); err != nil || len(left) > 0 {
		errs = append(errs, fmt.Errorf("iptables rules left after the daemon stopped: %v %v", left, err))
	}
	if os.Getenv("BERTH_TEST_KEEP") != "" {
		return errors.Join(errs...)
	}
	if err := UnmountUnder(d.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", d.Dir, err))
	}
	return errors.Join(errs...)
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		// A zombie child of ours still answers kill(0): check its state.
		// The leader shows Z as soon as it exits, while its other threads
		// may still be exiting with the files (the pid file's lock, the
		// listeners) open: gone means no thread but the zombie leader.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return true
		} else if strings.Contains(string(b), ") Z ") {
			if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err != nil || len(tasks) <= 1 {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// BinDir is where berthd, berth and berth-monitor are taken from: the repo's
// bin/ (make build) unless BERTH_TEST_BINDIR names another build.
func BinDir(repo string) string {
	if v := os.Getenv("BERTH_TEST_BINDIR"); v != "" {
		return v
	}
	return filepath.Join(repo, "bin")
}
