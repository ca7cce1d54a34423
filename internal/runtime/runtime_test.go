package runtime

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestStateKillDelete(t *testing.T) {
	c := startContainer(t)
	ctx := ctxT(t)
	st, err := c.rt.State(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != c.id || st.Status != "running" || st.Pid <= 0 || st.Bundle != c.bundle || st.Created.IsZero() {
		t.Fatalf("state %+v", st)
	}
	if err := c.rt.Kill(ctx, c.id, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "stopped")
	if err := c.rt.Delete(ctx, c.id, false); err != nil {
		t.Fatal(err)
	}
	_, err = c.rt.State(ctx, c.id)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("state after delete: %v", err)
	}
	if err := c.rt.Kill(ctx, "nosuch-"+c.id, syscall.SIGTERM, false); !errdefs.IsNotFound(err) {
		t.Fatalf("kill of a missing container: %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	c := startContainer(t)
	ctx := ctxT(t)
	if err := c.rt.Pause(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.rt.State(ctx, c.id); st == nil || st.Status != "paused" {
		t.Fatalf("after pause: %+v", st)
	}
	b, err := os.ReadFile("/sys/fs/cgroup/freezer" + c.cgroup + "/freezer.state")
	if err == nil && strings.TrimSpace(string(b)) != "FROZEN" {
		t.Fatalf("freezer.state %q", b)
	}
	if err := c.rt.Resume(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.rt.State(ctx, c.id); st == nil || st.Status != "running" {
		t.Fatalf("after resume: %+v", st)
	}
	if err := c.rt.Resume(ctx, c.id); err == nil || !errdefs.IsConflict(err) {
		t.Fatalf("resume of a running container: %v", err)
	}
}

func TestUpdateMemoryLimit(t *testing.T) {
	c := startContainer(t)
	ctx := ctxT(t)
	limit := int64(64 << 20)
	if err := c.rt.Update(ctx, c.id, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/sys/fs/cgroup/memory" + c.cgroup + "/memory.limit_in_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory.limit_in_bytes = %s, want %d", got, limit)
	}
	s, err := c.rt.Stats(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Usage.Limit != uint64(limit) {
		t.Fatalf("stats limit %d", s.Memory.Usage.Limit)
	}
	if r := ToStatsResponse(s, nil, 0, time.Now()); r.MemoryStats.Limit != uint64(limit) {
		t.Fatalf("response limit %d", r.MemoryStats.Limit)
	}
}

func TestPs(t *testing.T) {
	c := startContainer(t, "sh", "-c", "sleep 1000 & sleep 1000")
	ctx := ctxT(t)
	st, err := c.rt.State(ctx, c.id)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for i := 0; i < 100 && len(pids) < 2; i++ {
		if pids, err = c.rt.Ps(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("ps: %v", pids)
	}
	found := false
	for _, p := range pids {
		found = found || p == st.Pid
	}
	if !found {
		t.Fatalf("init pid %d not in %v", st.Pid, pids)
	}
}

func TestVersion(t *testing.T) {
	requireRoot(t)
	rt := &Runtime{Name: "runc", Path: runcPath, Root: t.TempDir()}
	v, err := rt.Version(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if v == "" || strings.Contains(v, "version") || !strings.HasPrefix(v, "1.") {
		t.Fatalf("version %q", v)
	}
}

func TestRuntimeMessage(t *testing.T) {
	out := []byte(`{"level":"warning","msg":"ignored","time":"x"}
{"level":"error","msg":"container \"x\" does not exist","time":"x"}
container "x" does not exist
`)
	if got := runtimeMessage(out); got != `container "x" does not exist` {
		t.Fatalf("got %q", got)
	}
	if got := runtimeMessage([]byte("Error: crun says no\n")); got != "crun says no" {
		t.Fatalf("plain: %q", got)
	}
}

func TestDockerWording(t *testing.T) {
	for in, want := range map[string]string{
		"executable file `nosuchcmd` not found in $PATH: No such file or directory": `exec: "nosuchcmd": executable file not found in $PATH`,
		"open executable: Permission denied":                                        "exec: permission denied",
		"chdir to `/x`: No such file or directory":                                  "chdir to `/x`: no such file or directory",
		`exec: "x": executable file not found in $PATH`:                             `exec: "x": executable file not found in $PATH`,
	} {
		if got := DockerWording(in); got != want {
			t.Errorf("DockerWording(%q) = %q, want %q", in, got, want)
		}
	}
}

// ExecFailed words crun's and runc's refusals alike, as dockerd prints them.
func TestExecFailed(t *testing.T) {
	for _, c := range []struct {
		in, want string
		invalid  bool
	}{
		{"executable file `nosuchcmd` not found in $PATH: No such file or directory",
			`OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown`, true},
		{`unable to start container process: exec: "/etc": permission denied`,
			`OCI runtime exec failed: exec failed: unable to start container process: exec: "/etc": permission denied: unknown`, true},
		{"cgroup is frozen", "OCI runtime exec failed: exec failed: unable to start container process: cgroup is frozen: unknown", false},
	} {
		err := ExecFailed(errors.New(c.in))
		if err.Error() != c.want || errdefs.IsInvalid(err) != c.invalid {
			t.Errorf("ExecFailed(%q) = %q (invalid %v), want %q (invalid %v)", c.in, err, errdefs.IsInvalid(err), c.want, c.invalid)
		}
	}
}
