package testutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteContainerdConfig writes the config of a private Debian containerd
// under dir/containerd (its own root, state and socket, not the one dockerd
// uses) whose CRI plugin reads the CNI configs in cniConfDir, as the
// cluster tests and the Kubernetes bench compare Berth's node with. It
// returns the config file and the socket path.
func WriteContainerdConfig(dir, cniConfDir string) (config, sock string, err error) {
	w := filepath.Join(dir, "containerd")
	sock = filepath.Join(w, "containerd.sock")
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
		return "", "", err
	}
	config = filepath.Join(w, "config.toml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return "", "", err
	}
	return config, sock, nil
}
