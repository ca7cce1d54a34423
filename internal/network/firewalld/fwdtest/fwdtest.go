// Package fwdtest runs a real firewalld for tests without touching the
// host's firewall or configuration:
//   - in a network namespace of its own (its nftables tables, sysctls and
//     the interfaces it sees are that namespace's),
//   - on a private D-Bus system bus: a dbus-daemon with a configuration
//     written here, listening on a socket in a temp dir (clients find it
//     through DBUS_SYSTEM_BUS_ADDRESS),
//   - in a private mount namespace whose /run is an empty tmpfs (firewalld
//     writes temporary files under /run/firewalld),
//   - with its configuration in a copy of /etc/firewalld in the temp dir
//     (--system-config), so zones it is asked to create never reach the
//     host's /etc.
//
// Every process is started by this package and stopped by its pid;
// everything is removed at the test's cleanup, also when it fails.
package fwdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/berth-project/berth/internal/network/bridge"
)

// Env is a private system bus and a network namespace, with a firewalld
// that can be started and stopped in them.
type Env struct {
	Dir     string // temp dir: bus socket, configuration, logs
	NS      string // the network namespace's bind-mount path
	BusAddr string // the private bus's DBUS_SYSTEM_BUS_ADDRESS
	t       testing.TB
	bus     *proc
	fw      *proc
	starts  int
}

// proc is a started process whose exit is awaited in the background.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(cmd *exec.Cmd) (*proc, error) {
	// Its own process group, and killed if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }() //nolint:errcheck // the exit is what we wait for
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits, then SIGKILL.
func (p *proc) stop(grace time.Duration) error {
	if p == nil || p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("pid %d ignored SIGTERM for %s", p.cmd.Process.Pid, grace)
}

// busConfig is a system bus that lets root do everything (as the real
// one does) and starts no service on demand.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// New makes the namespace and starts the bus (not firewalld). It skips t,
// saying what is missing, when dbus-daemon, firewalld, firewall-cmd,
// unshare or nsenter is not installed, or when not root.
func New(t testing.TB) *Env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bin := range []string{"dbus-daemon", "firewalld", "firewall-cmd", "unshare", "nsenter", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install firewalld; see scripts/install-deps.sh): %v", bin, err)
		}
	}
	// Short: a unix socket path is at most 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "fwd")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Dir: dir, NS: filepath.Join(dir, "netns"), t: t}
	t.Cleanup(e.cleanup)
	if err := bridge.NewNetNS(e.NS); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("nsenter", "--net="+e.NS, "--", "ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatalf("lo up in the namespace: %v", err)
	}
	sock := filepath.Join(dir, "bus")
	e.BusAddr = "unix:path=" + sock
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, sock), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyDir("/etc/firewalld", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile")
	cmd.Stdout, cmd.Stderr = e.logFile("dbus.log"), e.logFile("dbus.log")
	if e.bus, err = start(cmd); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := dbus.Connect(e.BusAddr)
		if err == nil {
			c.Close()
			break
		}
		if i > 100 || e.bus.exited() {
			t.Fatalf("private bus did not come up: %v\n%s", err, e.Log("dbus.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

// Env is the environment entry that points D-Bus clients at the bus.
func (e *Env) Env() string { return "DBUS_SYSTEM_BUS_ADDRESS=" + e.BusAddr }

func (e *Env) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(e.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Close() })
	return f
}

// Log is the content of one of the env's logs ("firewalld.log").
func (e *Env) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, name))
	return string(b)
}

// StartFirewalld starts firewalld in the namespace and waits until it
// answers on the bus. It skips the test when firewalld cannot start in a
// network namespace here (its log says why).
func (e *Env) StartFirewalld() {
	e.t.Helper()
	if e.fw != nil && !e.fw.exited() {
		e.t.Fatal("firewalld is already running")
	}
	e.starts++
	fmt.Fprintf(e.logFile("firewalld.log"), "--- start %d\n", e.starts)
	// unshare, nsenter and sh each exec the next: the pid is firewalld's.
	script := `mount -t tmpfs -o mode=0755 berth-fwdtest /run && exec firewalld --nofork --nopid --log-target console --system-config "$1"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"nsenter", "--net="+e.NS, "--", "sh", "-c", script, "sh", filepath.Join(e.Dir, "etc"))
	cmd.Env = append(os.Environ(), e.Env())
	cmd.Stdout, cmd.Stderr = e.logFile("firewalld.log"), e.logFile("firewalld.log")
	var err error
	if e.fw, err = start(cmd); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if e.Running() {
			return
		}
		if e.fw.exited() {
			e.t.Skipf("firewalld cannot run in a network namespace on this machine; its log:\n%s", e.Log("firewalld.log"))
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("firewalld did not answer on the bus in 90s; its log:\n%s", e.Log("firewalld.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Running reports whether firewalld answers on the bus.
func (e *Env) Running() bool {
	c, err := dbus.Connect(e.BusAddr)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var zone string
	err = c.Object("org.fedoraproject.FirewallD1", "/org/fedoraproject/FirewallD1").
		CallWithContext(ctx, "org.fedoraproject.FirewallD1.getDefaultZone", dbus.FlagNoAutoStart).Store(&zone)
	return err == nil && zone != ""
}

// Pid is the running firewalld's pid, or 0.
func (e *Env) Pid() int {
	if e.fw == nil || e.fw.exited() {
		return 0
	}
	return e.fw.cmd.Process.Pid
}

// StopFirewalld stops firewalld (SIGTERM, as systemctl stop does) and
// waits for its exit.
func (e *Env) StopFirewalld() error {
	err := e.fw.stop(30 * time.Second)
	e.fw = nil
	return err
}

// Cmd runs firewall-cmd with args against the env's firewalld.
func (e *Env) Cmd(args ...string) (string, error) {
	cmd := exec.Command("firewall-cmd", args...)
	cmd.Env = append(os.Environ(), e.Env())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("firewall-cmd %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// NftTables lists the nftables tables of the namespace ("inet firewalld").
func (e *Env) NftTables() ([]string, error) {
	out, err := exec.Command("nsenter", "--net="+e.NS, "--", "nft", "list", "tables").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w: %s", err, out)
	}
	var tables []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(l, "table ")); l != "" {
			tables = append(tables, l)
		}
	}
	return tables, nil
}

func (e *Env) cleanup() {
	var errs []error
	if e.fw != nil {
		errs = append(errs, e.fw.stop(30*time.Second))
	}
	errs = append(errs, e.bus.stop(10*time.Second))
	if e.NS != "" {
		errs = append(errs, bridge.DeleteNetNS(e.NS))
	}
	errs = append(errs, os.RemoveAll(e.Dir))
	if err := errors.Join(errs...); err != nil {
		e.t.Errorf("fwdtest cleanup: %v", err)
	}
}

// copyDir copies a tree of regular files and directories.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o750)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o640)
	})
}
