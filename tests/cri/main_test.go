// Package cri tests berthd's Kubernetes CRI front end: a private berthd
// with its CRI socket and a private CNI config (its own bridge and subnet),
// driven through the CRI's gRPC API, crictl and critest (cri-tools, from
// the cache scripts/kube-build.sh fills; those tests skip without it).
package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/vishvananda/netlink"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// env is the shared daemon; set in TestMain, read-only afterwards.
var env *criEnv

type criEnv struct {
	d       *testutil.Daemon
	dir     string
	sock    string // CRI socket
	cniDir  string
	bridge  string
	subnet  string // e.g. 10.213.7.0/24
	ipamDir string
	cfgDir  string // docker CLI config
	rt      runtimeapi.RuntimeServiceClient
	img     runtimeapi.ImageServiceClient
	conn    *grpc.ClientConn
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("cri: skipped, needs root")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("/tmp", "bcri")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	e := &criEnv{dir: dir, cniDir: filepath.Join(dir, "net.d"), ipamDir: filepath.Join(dir, "ipam"), cfgDir: filepath.Join(dir, "cfg")}
	b := make([]byte, 2)
	rand.Read(b)
	e.bridge = "bcri" + hex.EncodeToString(b)
	hadHostport := hostportChainsPresent()
	e.subnet = fmt.Sprintf("10.213.%d.0/24", int(b[0])%250+1)
	defer func() {
		if env != nil && env.conn != nil {
			env.conn.Close()
		}
		if e.d != nil {
			e.d.Shutdown()
		}
		if l, err := netlink.LinkByName(e.bridge); err == nil {
			netlink.LinkDel(l)
		}
		if !hadHostport {
			removeHostportChains()
		}
		testutil.RemoveDir(dir)
	}()
	if err := writeCNIConfig(e); err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		return 1
	}
	e.d, err = testutil.StartBerthdIn(ctx, dir, "--group", "root", "--cni-conf-dir", e.cniDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri: start berthd:", err)
		return 1
	}
	e.sock = filepath.Join(e.d.Exec, "cri.sock")
	e.conn, err = grpc.NewClient("unix://"+e.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri: dial:", err)
		return 1
	}
	e.rt = runtimeapi.NewRuntimeServiceClient(e.conn)
	e.img = runtimeapi.NewImageServiceClient(e.conn)
	if err := loadImages(ctx, e); err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err, "\n", e.d.LogTail(3000))
		return 1
	}
	env = e
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "berthd log tail:\n", e.d.LogTail(6000))
	}
	cleanupPods(ctx, e)
	return code
}

// writeCNIConfig writes a bridge network with host-local IPAM (state in
// the test dir) and portmap for host ports, on this run's own bridge.
func writeCNIConfig(e *criEnv) error {
	if err := os.MkdirAll(e.cniDir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "%s",
  "plugins": [
    {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "%s"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`, e.bridge, e.bridge, e.subnet, e.ipamDir)
	return os.WriteFile(filepath.Join(e.cniDir, "10-berth-test.conflist"), []byte(conf), 0o644)
}

// loadImages imports busybox (from Debian's busybox-static) as
// busybox:latest through the Engine API: one store serves both APIs.
func loadImages(ctx context.Context, e *criEnv) error {
	if err := os.MkdirAll(e.cfgDir, 0o700); err != nil {
		return err
	}
	data, err := testutil.BusyboxTarBytes()
	if err != nil {
		return err
	}
	dr := testutil.DockerDriver(e.d, e.cfgDir)
	if r := dr.Run(ctx, strings.NewReader(string(data)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		return fmt.Errorf("import busybox: %s", r)
	}
	return nil
}

// cleanupPods removes every pod left behind (tests remove their own).
func cleanupPods(ctx context.Context, e *criEnv) {
	pods, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id})
		e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// kubeBin returns a binary from the cri-tools/Kubernetes cache, or "".
func kubeBin(name string) string {
	matches, _ := filepath.Glob(filepath.Join("/var/cache/berth-kube", "*", "bin", name))
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return m
		}
	}
	if p, err := exec.LookPath(name); err == nil && os.Getenv("BERTH_TEST_PATH_TOOLS") != "" {
		return p
	}
	return ""
}
