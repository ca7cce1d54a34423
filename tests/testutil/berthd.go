package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StartBerthdIn starts bin/berthd on dir (data, exec root, socket inside
// it), with extra flags. Unlike StartDaemon it may be called again on the
// same dir after Kill or Shutdown, to test what survives a restart.
func StartBerthdIn(ctx context.Context, dir string, extra ...string) (*Daemon, error) {
	return StartBerthdEnv(ctx, dir, nil, extra...)
}

// StartBerthdEnv is StartBerthdIn with extra environment variables
// ("K=V") for the daemon, such as BERTH_CRASH_POINT.
func StartBerthdEnv(ctx context.Context, dir string, env []string, extra ...string) (*Daemon, error) {
	return StartBerthdWith(ctx, dir, BerthdOptions{Env: env}, extra...)
}

// BerthdOptions are StartBerthdWith's settings beyond the daemon's flags.
type BerthdOptions struct {
	Env []string // added to the daemon's environment ("K=V")
	// NetNS runs the daemon in the network namespace bind-mounted at this
	// path (through nsenter, which execs it: the pid is the daemon's).
	// Its bridges, veths and nft table are then that namespace's; its
	// files, mounts and cgroups are the host's as usual.
	NetNS string
}

// StartBerthdWith is StartBerthdIn with options.
func StartBerthdWith(ctx context.Context, dir string, opts BerthdOptions, extra ...string) (*Daemon, error) {
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	d := &Daemon{Target: TargetBerthd, Dir: dir, RepoDir: repo,
		Root: filepath.Join(dir, "data"), Exec: filepath.Join(dir, "exec"),
		Sock: filepath.Join(dir, "berth.sock"), PidFile: filepath.Join(dir, "berthd.pid"),
		LogPath: filepath.Join(dir, fmt.Sprintf("daemon-%d.log", time.Now().UnixNano())), env: opts.Env, netns: opts.NetNS}
	args := append([]string{"--data-root", d.Root, "--exec-root", d.Exec, "-H", "unix://" + d.Sock,
		"--pidfile", d.PidFile}, extra...)
	if err := d.spawn(filepath.Join(BinDir(repo), "berthd"), args); err != nil {
		return nil, err
	}
	if err := d.waitReady(ctx, 30*time.Second); err != nil {
		d.Kill()
		return nil, err
	}
	return d, nil
}

// Kill crashes the daemon (SIGKILL) and leaves its state as it was.
func (d *Daemon) Kill() {
	if pid := d.Pid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 10*time.Second)
	}
	if d.log != nil {
		d.log.Close()
	}
}

// Shutdown stops the daemon cleanly (SIGTERM) and keeps its directories.
func (d *Daemon) Shutdown() error {
	pid := d.Pid()
	if pid <= 0 {
		return errors.New("no daemon pid")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	if !waitGone(pid, 30*time.Second) {
		return fmt.Errorf("daemon %d did not exit after SIGTERM", pid)
	}
	if d.log != nil {
		d.log.Close()
	}
	return nil
}

// RemoveDir unmounts what is left under dir and deletes it.
func RemoveDir(dir string) error {
	if os.Getenv("BERTH_TEST_KEEP") != "" {
		return nil
	}
	return errors.Join(UnmountUnder(dir), os.RemoveAll(dir))
}
