package cluster

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// startContainerd runs a private Debian containerd (its own root, state and
// socket; not the one dockerd uses) whose CRI plugin reads the CNI configs
// of the daemon's cluster, for BERTH_CLUSTER_RUNTIME=containerd: the same
// test then runs the cluster on containerd, to compare. It returns the CRI
// endpoint; the cleanup stops it and its shims by PID.
func startContainerd(t *testing.T, dir, cniConfDir string) string {
	t.Helper()
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("BERTH_CLUSTER_RUNTIME=containerd needs Debian's containerd (apt-get install containerd)")
	}
	config, sock, err := testutil.WriteContainerdConfig(dir, cniConfDir)
	if err != nil {
		t.Fatal(err)
	}
	w := filepath.Dir(config)
	logf, err := os.Create(filepath.Join(w, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		for i := 0; i < 100 && cmd.ProcessState == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		// Shims outlive containerd; they carry its socket in their arguments.
		for _, pid := range testutil.ProcsWithArg("", sock) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		logf.Close()
		testutil.UnmountUnder(w)
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return "unix://" + sock
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("containerd did not start")
	return ""
}
