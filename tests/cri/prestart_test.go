package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// preparedPid waits (up to 10 s) for the runtime's init of container id,
// which berthd creates ahead of StartContainer, and returns its pid; 0 when
// none appeared (a start prepared later is fine too).
func preparedPid(t *testing.T, id string) int {
	t.Helper()
	path := filepath.Join(env.d.Exec, id, "init.pid")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
	}
	t.Logf("no init prepared ahead for %s", id)
	return 0
}

// assertContainerGone checks that nothing of a container's start is left:
// its init, bundle, runtime state and rootfs mount.
func assertContainerGone(t *testing.T, id string, pid int) {
	t.Helper()
	if pid > 0 {
		gone := false
		// Up to 30 s: a count of 100 naps lasted 5 s, short under load.
		for deadline := time.Now().Add(30 * time.Second); !gone && time.Now().Before(deadline); {
			// A zombie is gone too: its parent (the monitor) reaps it.
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			gone = err != nil || strings.Contains(string(b), ") Z ")
			if !gone {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !gone {
			t.Errorf("the prepared init %d of %s still runs", pid, id)
		}
	}
	if _, err := os.Stat(filepath.Join(env.d.Exec, id)); !os.IsNotExist(err) {
		t.Errorf("bundle of %s still present (%v)", id, err)
	}
	if m, _ := filepath.Glob(filepath.Join(env.d.Exec, "runtime", "*", id)); len(m) > 0 {
		t.Errorf("runtime state of %s left: %v", id, m)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), id) {
		t.Errorf("a mount of %s is left:\n%s", id, grepLines(string(mounts), id))
	}
}

// TestCreatedContainerWaitsForStart: berthd prepares a pod container's
// start when it is created (the runtime's create runs then), but the
// container stays CONTAINER_CREATED and its program does not run until
// StartContainer; one removed or whose pod stops before it starts leaves
// nothing behind.
func TestCreatedContainerWaitsForStart(t *testing.T) {
	ctx := ctxT(t)
	cfg := testPod(t, "prestart")
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}}
	pod := runPod(t, ctx, cfg)
	out := t.TempDir()
	create := func(name string) string {
		t.Helper()
		cc := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Command:  []string{"sh", "-c", "touch /out/" + name + "; exec sleep 600"},
			Mounts:   []*runtimeapi.Mount{{ContainerPath: "/out", HostPath: out}},
		}
		r, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: cc, SandboxConfig: cfg})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", name, err)
		}
		return r.ContainerId
	}
	state := func(id string) runtimeapi.ContainerState {
		t.Helper()
		st, err := env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStatus %s: %v", id, err)
		}
		return st.Status.State
	}
	ran := func(name string) bool {
		_, err := os.Stat(filepath.Join(out, name))
		return err == nil
	}

	// Created, prepared, not running; then started.
	a := create("a")
	preparedPid(t, a)
	time.Sleep(300 * time.Millisecond) // time for a program that had been let run to show
	if st := state(a); st != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("state of a created container = %v, want CONTAINER_CREATED", st)
	}
	if ran("a") {
		t.Fatal("the created container's program ran before StartContainer")
	}
	list, err := env.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: a}})
	if err != nil || len(list.Containers) != 1 || list.Containers[0].State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("ListContainers of the created container = %v, %v", list, err)
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: a}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	if st := state(a); st != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("state after start = %v", st)
	}
	for deadline := time.Now().Add(30 * time.Second); !ran("a") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !ran("a") {
		t.Fatal("the started container's program did not run")
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: a}); err == nil {
		t.Error("a second StartContainer succeeded")
	}

	// Created and removed without a start: nothing is left, nothing ran.
	b := create("b")
	pid := preparedPid(t, b)
	if _, err := env.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: b}); err != nil {
		t.Fatalf("RemoveContainer of a created container: %v", err)
	}
	assertContainerGone(t, b, pid)
	if ran("b") {
		t.Error("a container removed before its start ran its program")
	}

	// Created, then resources updated: the start runs with the new limit.
	u := create("u")
	preparedPid(t, u)
	if _, err := env.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: u,
		Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 48 << 20}}); err != nil {
		t.Fatalf("UpdateContainerResources of a created container: %v", err)
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: u}); err != nil {
		t.Fatalf("StartContainer after update: %v", err)
	}
	// The container's memory cgroup, on this hybrid host (v1) or v2.
	cg := filepath.Join("/sys/fs/cgroup/memory", cfg.Linux.CgroupParent, u, "memory.limit_in_bytes")
	if _, err := os.Stat(cg); err != nil {
		cg = filepath.Join("/sys/fs/cgroup", cfg.Linux.CgroupParent, u, "memory.max")
	}
	if b, err := os.ReadFile(cg); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(48<<20) {
		t.Errorf("memory limit after an update before start = %q, %v (want %d)", b, err, 48<<20)
	}

	// Created when the pod stops: the stop leaves no prepared init.
	c := create("c")
	pid = preparedPid(t, c)
	if _, err := env.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	assertContainerGone(t, c, pid)
	if ran("c") {
		t.Error("a container of a stopped pod ran its program without a start")
	}
	if st := state(c); st != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("state of the never-started container after the pod stopped = %v", st)
	}
	if _, err := env.rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	assertPodGone(t, pod, "")
}

// TestRunPodSandboxWarmsMonitor: RunPodSandbox starts the monitor
// supervisor the pod's first container then runs under, so that process's
// start-up is not between CreateContainer and StartContainer.
func TestRunPodSandboxWarmsMonitor(t *testing.T) {
	ctx := ctxT(t)
	mon := filepath.Join(testutil.BinDir(env.d.RepoDir), "berth-monitor")
	// Other tests' pods are gone; a supervisor warmed for a pod that got
	// no container exits after its 10 s idle limit.
	for deadline := time.Now().Add(20 * time.Second); len(testutil.ProcsWithArg(mon, env.d.Exec)) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("monitor supervisors of earlier tests still run: %v", testutil.ProcsWithArg(mon, env.d.Exec))
		}
	}
	cfg := testPod(t, "warm")
	ns := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}
	pod := runPod(t, ctx, cfg)
	var warmed []int
	for deadline := time.Now().Add(10 * time.Second); len(warmed) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no monitor supervisor started for the new pod")
		}
		warmed = testutil.ProcsWithArg(mon, env.d.Exec)
	}
	if len(warmed) != 1 {
		t.Fatalf("%d supervisors started for one pod: %v", len(warmed), warmed)
	}
	cr, err := env.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod, SandboxConfig: cfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "sleep"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sleep", "600"},
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: ns}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	st, err := env.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cr.ContainerId, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container state %v after StartContainer", st.Status.State)
	}
	var pid int
	fmt.Sscanf(grepAfter(st.Info["info"], `"pid":`), "%d", &pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("container pid %d: %v", pid, err)
	}
	var ppid int
	fmt.Sscanf(strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))[1], "%d", &ppid)
	if ppid != warmed[0] {
		t.Fatalf("the container runs under %d, not under the supervisor %d started with its pod", ppid, warmed[0])
	}
}
