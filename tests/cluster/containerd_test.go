package cluster

import (
	"fmt"
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
	w := filepath.Join(dir, "containerd")
	sock := filepath.Join(w, "containerd.sock")
	cfg := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
[grpc]
  address = "%[2]s"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "berth.local/pause:3.10"
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[3]s"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`, w, sock, cniConfDir)
	if err := os.MkdirAll(w, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(w, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", filepath.Join(w, "config.toml"))
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
