package cri

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestIntentRecordSurvivesAsNotReady: the record RunPodSandbox writes
// while CNI ADD runs is what a restarted berthd finds when it crashed
// before the pod was ready: a NOTREADY pod whose stop tears the network
// down and kills the pause process, not a directory it throws away.
func TestIntentRecordSurvivesAsNotReady(t *testing.T) {
	dir := t.TempDir()
	cfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u1"}}
	raw, err := proto.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := newID()
	sb := &sandbox{ID: id, Config: raw, cfg: cfg, State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
		NetNS: "/run/x/ns/net", IpcNS: "/run/x/ns/ipc", UtsNS: "/run/x/ns/uts", dir: filepath.Join(dir, id)}
	if err := os.MkdirAll(sb.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := writeIntent(sb, 4242, true); err != nil {
		t.Fatal(err)
	}
	if sb.PausePid != 0 || sb.NetworkUp {
		t.Fatalf("writeIntent changed the caller's record: %+v", sb)
	}
	st, err := loadSandboxes(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.get(id)
	if err != nil {
		t.Fatalf("the intent record was not loaded: %v", err)
	}
	if got.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY || !got.NetworkUp || got.PausePid != 4242 || got.NetNS != sb.NetNS {
		t.Fatalf("loaded %+v, want NOTREADY with the network up, pause 4242 and the pinned netns", got)
	}
	if other, ok := st.reserve(sandboxName(cfg.GetMetadata()), newID()); ok || other != id {
		t.Fatalf("the pod's name is not held by the loaded record (other %q)", other)
	}

	// The final record (READY, the IPs) replaces it in place.
	sb.State, sb.NetworkUp, sb.PausePid, sb.IPs = runtimeapi.PodSandboxState_SANDBOX_READY, true, 4242, []string{"10.1.0.5"}
	if err := sb.saveNoSync(); err != nil {
		t.Fatal(err)
	}
	st, err = loadSandboxes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = st.get(id); err != nil || got.State != runtimeapi.PodSandboxState_SANDBOX_READY || len(got.IPs) != 1 {
		t.Fatalf("after the final save: %+v, %v", got, err)
	}
	if m, _ := filepath.Glob(filepath.Join(sb.dir, ".*tmp*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}
