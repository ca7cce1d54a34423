package monitor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

// TestOwnProcess runs the main tests again with a monitor process per
// container (Config.Pool nil), berthd's --monitor-containers 1.
func TestOwnProcess(t *testing.T) {
	ownProcess = true
	defer func() { ownProcess = false }()
	t.Run("OutputLogAndExitCode", TestOutputLogAndExitCode)
	t.Run("TTYAndResize", TestTTYAndResize)
	t.Run("CreateFailureLeavesNothing", TestCreateFailureLeavesNothing)
	t.Run("ReconnectAndKill", TestReconnectAndKill)
	t.Run("CreateCancelled", TestCreateCancelled)
	t.Run("OrphansReaped", TestOrphansReaped)
}

func TestOutputLogAndExitCode(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", "echo out; echo err >&2; printf partial; exit 3"}, opts{log: true})
	ctx := testCtx(t)
	m := e.create(ctx)
	if m.Pid() <= 0 {
		t.Fatalf("pid %d", m.Pid())
	}
	a, err := m.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() { copied <- a.CopyOutput(&stdout, &stderr) }()
	// A Wait opened before Start sees the first exit.
	early := make(chan *ExitStatus, 1)
	go func() {
		st, _ := m.Wait(ctx)
		early <- st
	}()
	time.Sleep(50 * time.Millisecond)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if es := <-early; es == nil || es.Code != 3 {
		t.Errorf("Wait before Start = %+v", es)
	}
	if st.Code != 3 || st.OOMKilled || st.ExitedAt.IsZero() {
		t.Errorf("exit = %+v, want code 3", st)
	}
	if err := <-copied; err != nil {
		t.Errorf("CopyOutput: %v", err)
	}
	if stdout.String() != "out\npartial" || stderr.String() != "err\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	// Wait again: same answer, from the cache.
	if st2, err := m.Wait(ctx); err != nil || st2.Code != 3 {
		t.Errorf("second Wait = %+v, %v", st2, err)
	}
	log, err := os.ReadFile(e.cfg.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"log":"out\n","stream":"stdout","time":"`, `{"log":"err\n","stream":"stderr"`, `{"log":"partial","stream":"stdout"`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	rs, err := ReadExit(e.cfg.Dir)
	if err != nil || rs.Code != 3 || !rs.ExitedAt.Equal(st.ExitedAt) {
		t.Errorf("ReadExit = %+v, %v; Wait said %+v", rs, err, st)
	}
	assertNoRuntimeState(t, e)
}

func assertNoRuntimeState(t *testing.T, e *env) {
	t.Helper()
	waitFor(t, 5*time.Second, "monitor socket removal", func() bool {
		_, err := os.Stat(filepath.Join(e.cfg.Dir, "monitor.sock"))
		return err != nil
	})
	// The monitor deletes the runtime state just after reporting the exit.
	var out []byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		out, err = e.runc("list", "-q")
		if err != nil {
			t.Fatalf("runc list: %v: %s", err, out)
		}
		if !strings.Contains(string(out), e.cfg.ID) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(string(out), e.cfg.ID) {
		t.Errorf("runtime still lists %s", e.cfg.ID)
	}
	for _, m := range e.started {
		if !waitProcGone(m.procPid, 5*time.Second) {
			t.Errorf("monitor %d still running", m.procPid)
		}
	}
	if _, err := os.Stat(e.cfg.CgroupMemoryPath); err == nil {
		t.Errorf("cgroup %s left after the exit", e.cfg.CgroupMemoryPath)
	}
}

func TestStdinHalfClose(t *testing.T) {
	e := newEnv(t, []string{"cat"}, opts{stdin: true, stdinOnce: true})
	ctx := testCtx(t)
	m := e.create(ctx)
	a, err := m.Attach(ctx, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() { copied <- a.CopyOutput(&out, &out) }()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stdin.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	<-copied
	if out.String() != "hi\n" {
		t.Errorf("output %q, want %q", out.String(), "hi\n")
	}
	assertNoRuntimeState(t, e)
}

func TestTTYAndResize(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", "stty size; read x; stty size"}, opts{tty: true, stdin: true, log: true})
	e.cfg.ConsoleHeight, e.cfg.ConsoleWidth = 24, 80
	ctx := testCtx(t)
	m := e.create(ctx)
	a, err := m.Attach(ctx, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out syncBuffer
	go a.CopyOutput(&out, &out)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "first stty size", func() bool { return strings.Contains(out.String(), "24 80") })
	if err := m.Resize(ctx, 50, 132); err != nil {
		t.Fatal(err)
	}
	a.Stdin.Write([]byte("\n"))
	st, err := m.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	waitFor(t, 5*time.Second, "second stty size", func() bool { return strings.Contains(out.String(), "50 132") })
	// A pty turns "\n" into "\r\n": proof the output came through the tty.
	if !strings.Contains(out.String(), "24 80\r\n") {
		t.Errorf("output %q lacks tty line endings", out.String())
	}
	log, _ := os.ReadFile(e.cfg.LogPath)
	if !strings.Contains(string(log), `"log":"50 132\r\n","stream":"stdout"`) {
		t.Errorf("log lacks the resized size:\n%s", log)
	}
	assertNoRuntimeState(t, e)
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, []string{"nosuch"}, opts{})
	ctx := testCtx(t)
	m, err := Create(ctx, e.cfg)
	if err == nil {
		e.started = append(e.started, m)
		t.Fatal("Create succeeded for a missing executable")
	}
	if !strings.Contains(err.Error(), `exec: "nosuch": executable file not found in $PATH`) {
		t.Errorf("error %q lacks the runtime's message", err)
	}
	out, lerr := e.runc("list", "-q")
	if lerr != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("runc list after failure: %q %v", out, lerr)
	}
	if ents, _ := os.ReadDir(e.cfg.Dir); len(ents) > 0 {
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		t.Errorf("files left in %s: %v", e.cfg.Dir, names)
	}
	if _, err := os.Stat(e.cfg.CgroupMemoryPath); err == nil {
		t.Errorf("cgroup %s left behind", e.cfg.CgroupMemoryPath)
	}
	t.Logf("create error: %v", err)
	if pids := procsMentioning(e.cfg.Dir); len(pids) > 0 {
		t.Errorf("processes still running for %s: %v", e.cfg.Dir, pids)
	}
}

// procsMentioning lists pids whose command line contains s (a unique temp
// path), to prove no monitor survived.
func procsMentioning(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(s)) {
			pids = append(pids, d.Name())
		}
	}
	return pids
}

func TestReconnectAndKill(t *testing.T) {
	e := newEnv(t, []string{"sleep", "100"}, opts{})
	ctx := testCtx(t)
	m := e.create(ctx)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := m.Pid()
	m.Close()
	if _, err := m.Wait(ctx); err == nil {
		t.Error("Wait on a closed handle succeeded")
	}
	m2, err := Reconnect(ctx, e.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.Pid() != pid {
		t.Errorf("reconnected pid %d, want %d", m2.Pid(), pid)
	}
	st, err := m2.State(ctx)
	if err != nil || !st.Running || st.StartedAt.IsZero() {
		t.Errorf("State = %+v, %v", st, err)
	}
	if err := m2.Resize(ctx, 10, 10); err != nil {
		t.Errorf("Resize without a TTY: %v, want a no-op", err)
	}
	if out, err := e.runc("kill", e.cfg.ID, "KILL"); err != nil {
		t.Fatalf("runc kill: %v %s", err, out)
	}
	ex, err := m2.Wait(ctx)
	if err != nil || ex.Code != 137 {
		t.Fatalf("Wait = %+v, %v; want 137", ex, err)
	}
	assertNoRuntimeState(t, e)
	if _, err := Reconnect(ctx, e.cfg.Dir); !errdefs.IsNotFound(err) {
		t.Errorf("Reconnect after exit: %v, want NotFound", err)
	}
}

func TestReadExitWhileDisconnected(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", "exit 5"}, opts{})
	ctx := testCtx(t)
	m := e.create(ctx)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m.Close() // the daemon "goes down"
	waitFor(t, 10*time.Second, "exit.json", func() bool {
		_, err := os.Stat(filepath.Join(e.cfg.Dir, "exit.json"))
		return err == nil
	})
	assertNoRuntimeState(t, e)
	if _, err := Reconnect(ctx, e.cfg.Dir); err == nil {
		t.Fatal("Reconnect to an exited monitor succeeded")
	}
	st, err := ReadExit(e.cfg.Dir)
	if err != nil || st.Code != 5 || st.ExitedAt.IsZero() {
		t.Errorf("ReadExit = %+v, %v", st, err)
	}
	if _, err := ReadExit(t.TempDir()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReadExit of empty dir: %v, want NotFound", err)
	}
}

const (
	slowLine  = "0123456789012345678901234567890123456789\n"
	slowLines = 50000 // 50000 × 41 bytes ≈ 2 MB, far more than any buffer
	slowCmd   = "yes 0123456789012345678901234567890123456789 | head -n 50000; echo last"
)

// checkSlowLog requires the log to hold every line of slowCmd.
func checkSlowLog(t *testing.T, e *env) {
	t.Helper()
	log, err := os.ReadFile(e.cfg.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(log, []byte(`{"log":"0123456789`)); got != slowLines {
		t.Errorf("log has %d lines of output, want %d", got, slowLines)
	}
	if !bytes.Contains(log, []byte(`{"log":"last\n"`)) {
		t.Error("log lacks the last line")
	}
}

// TestSlowClientGetsEverything attaches two clients before the start: one
// reads at once, the other only after a pause and then slowly. The
// container is held back instead of output being dropped: both get every
// byte in order, and so does the log.
func TestSlowClientGetsEverything(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", slowCmd}, opts{log: true})
	ctx := testCtx(t)
	m := e.create(ctx)
	var got [2]bytes.Buffer
	var errs [2]error
	var wg sync.WaitGroup
	for i := range got {
		a, err := m.Attach(ctx, false, true, true)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w io.Writer = &got[i]
			if i == 1 {
				time.Sleep(time.Second) // the container fills its pipe meanwhile
				w = &napWriter{w: w}
			}
			errs[i] = a.CopyOutput(w, w)
		}()
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := strings.Repeat(slowLine, slowLines) + "last\n"
	for i := range got {
		if errs[i] != nil || got[i].String() != want {
			t.Errorf("client %d: %v, %d bytes of %d (equal: %v)", i, errs[i], got[i].Len(), len(want), got[i].String() == want)
		}
	}
	st, err := m.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	checkSlowLog(t, e)
}

// napWriter is a slow reader's sink: it sleeps a little every 64 KiB.
type napWriter struct {
	w io.Writer
	n int
}

func (n *napWriter) Write(p []byte) (int, error) {
	if n.n += len(p); n.n >= 64<<10 {
		n.n = 0
		time.Sleep(5 * time.Millisecond)
	}
	return n.w.Write(p)
}

// TestGoneClientReleasesContainer attaches a client that never reads and
// then hangs up: the container, held back by it, runs to its end, and
// the log holds all of its output.
func TestGoneClientReleasesContainer(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", slowCmd}, opts{log: true})
	ctx := testCtx(t)
	m := e.create(ctx)
	a, err := m.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	a.Close()
	st, err := m.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	checkSlowLog(t, e)
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t, []string{"sh", "-c", "x=$(yes | head -c 200000000); echo survived"}, opts{memory: 16 << 20})
	ctx := testCtx(t)
	m := e.create(ctx)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled || st.Code != 137 {
		t.Errorf("exit = %+v, want OOMKilled with code 137", st)
	}
	if rs, err := ReadExit(e.cfg.Dir); err != nil || !rs.OOMKilled {
		t.Errorf("exit.json = %+v, %v; want oom_killed", rs, err)
	}
}

// TestCreateCancelled: a daemon request that goes away mid-create must not
// leave a monitor or runtime state behind, wherever the cancel lands.
func TestCreateCancelled(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			e := newEnv(t, []string{"sleep", "100"}, opts{})
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			m, err := Create(ctx, e.cfg)
			if err == nil {
				e.started = append(e.started, m)
				t.Skipf("create finished within %v; nothing to cancel", d)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want the context's", err)
			}
			out, _ := e.runc("list", "-q")
			if strings.TrimSpace(string(out)) != "" {
				t.Errorf("runtime state left: %q", out)
			}
			if pids := procsMentioning(e.cfg.Dir); len(pids) > 0 {
				t.Errorf("processes left for %s: %v", e.cfg.Dir, pids)
			}
			if pids := procsMentioning(e.cfg.ID); len(pids) > 0 {
				t.Errorf("processes left for %s: %v", e.cfg.ID, pids)
			}
			if _, err := os.Stat(e.cfg.CgroupMemoryPath); err == nil {
				t.Errorf("cgroup %s left behind", e.cfg.CgroupMemoryPath)
			}
		})
	}
}
