package container

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/tests/testutil"
	"github.com/moby/moby/api/types/container"
)

// startBerthd runs a private berthd (bin/, make build) with a busybox
// image and answers a client of it; everything goes in cleanup.
func startBerthd(t *testing.T) (*client.Client, context.Context) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	repo, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(testutil.BinDir(repo), "berthd")); err != nil {
		t.Skip("bin/berthd not built (make build)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	d, err := testutil.StartDaemon(ctx, testutil.TargetBerthd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New("unix://" + d.Sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		list, _ := c.ContainerList(context.Background(), client.ContainerListOptions{All: true})
		for _, ct := range list {
			_ = c.ContainerRemove(context.Background(), ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
		// The monitors end after their containers; wait so the daemon's
		// directory is not written while it is removed.
		monitor := filepath.Join(testutil.BinDir(repo), "berth-monitor")
		for end := time.Now().Add(10 * time.Second); len(testutil.ProcsWithArg(monitor, d.Exec)) > 0 && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
		}
		if err := d.Stop(); err != nil {
			t.Errorf("stop berthd: %v", err)
		}
	})
	tarball, err := testutil.BusyboxTarBytes()
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.ImageImport(ctx, "-", bytes.NewReader(tarball), client.ImageImportOptions{Repo: "busybox:latest"})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, body)
	body.Close()
	return c, ctx
}

// buffers are Streams over buffers, with stdin given.
type buffers struct{ out, err bytes.Buffer }

func (b *buffers) streams(in string) command.Streams {
	return command.Streams{In: strings.NewReader(in), Out: &b.out, Err: &b.err}
}

func noPull(t *testing.T) PullFunc {
	return func(context.Context, *client.Client, string, io.Writer) error {
		t.Error("pull called for an image the daemon has")
		return errors.New("no pull")
	}
}

func createReq(cmd ...string) *container.CreateRequest {
	return &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: cmd}, HostConfig: &container.HostConfig{}}
}

func exitCode(err error) int {
	var se *command.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestContainerLogic drives the commands' logic functions, without cobra,
// against a real berthd: run attached and detached, ps, logs, exec, cp
// both ways, diff, commit, top, wait, inspect, stop and prune.
func TestContainerLogic(t *testing.T) {
	c, ctx := startBerthd(t)

	// run, attached: output on the streams and the exit status as the error.
	var b buffers
	err := Run(ctx, c, b.streams(""), noPull(t), RunOptions{CreateOptions: CreateOptions{Name: "once", Image: "busybox", Pull: "missing",
		Request: createReq("sh", "-c", "echo out; echo err >&2; exit 3")}})
	if exitCode(err) != 3 || b.out.String() != "out\n" || b.err.String() != "err\n" {
		t.Fatalf("run attached: %v, out %q err %q", err, b.out.String(), b.err.String())
	}

	// run, detached: the ID is printed.
	b = buffers{}
	err = Run(ctx, c, b.streams(""), noPull(t), RunOptions{Detach: true, CreateOptions: CreateOptions{Name: "web", Image: "busybox", Pull: "missing",
		Request: createReq("sh", "-c", "echo hello; echo oops >&2; exec sleep 300")}})
	id := strings.TrimSpace(b.out.String())
	if err != nil || len(id) != 64 {
		t.Fatalf("run -d: %v, %q", err, b.out.String())
	}

	// ps: running only unless All, with docker's templates.
	var out bytes.Buffer
	if err := Ps(ctx, c, &out, PsOptions{Last: -1, Format: "{{.Names}} {{.State}}"}, time.Now()); err != nil || out.String() != "web running\n" {
		t.Fatalf("ps: %v, %q", err, out.String())
	}
	out.Reset()
	if err := Ps(ctx, c, &out, PsOptions{Last: -1, All: true, Quiet: true, NoTrunc: true}, time.Now()); err != nil || strings.Count(out.String(), "\n") != 2 || !strings.Contains(out.String(), id) {
		t.Fatalf("ps -aq --no-trunc: %v, %q", err, out.String())
	}

	// logs: stdout and stderr apart; --since in the future shows nothing.
	b = buffers{}
	deadline := time.Now().Add(10 * time.Second)
	// Wait for both lines: the container writes them one after the other,
	// and a loaded machine can show the first before the second.
	for (b.out.String() != "hello\n" || b.err.String() != "oops\n") && time.Now().Before(deadline) {
		b = buffers{}
		if err := Logs(ctx, c, &b.out, &b.err, LogsOptions{Tail: "all"}, "web", time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b.out.String() != "hello\n" || b.err.String() != "oops\n" {
		t.Fatalf("logs: out %q err %q", b.out.String(), b.err.String())
	}
	b = buffers{}
	if err := Logs(ctx, c, &b.out, &b.err, LogsOptions{Tail: "all", Since: "-1h"}, "web", time.Now()); err != nil || b.out.Len() != 0 {
		t.Fatalf("logs --since future: %v, %q", err, b.out.String())
	}
	if err := Logs(ctx, c, &b.out, &b.err, LogsOptions{Since: "yesterday"}, "web", time.Now()); err == nil || !strings.Contains(err.Error(), `invalid value for "since"`) {
		t.Fatalf("logs --since yesterday: %v", err)
	}

	// exec: stdin in, output out, the command's status as the error.
	b = buffers{}
	err = Exec(ctx, c, b.streams("piped\n"), ExecOptions{Interactive: true, Env: []string{"X=1"}}, "web", []string{"sh", "-c", "cat; echo $X; exit 5"})
	if exitCode(err) != 5 || b.out.String() != "piped\n1\n" {
		t.Fatalf("exec: %v, %q", err, b.out.String())
	}

	// cp in and out, through the archive endpoints.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, c, b.streams(""), CpOptions{}, filepath.Join(dir, "f.txt"), "web:/tmp/g.txt"); err != nil {
		t.Fatalf("cp to: %v", err)
	}
	if err := Copy(ctx, c, b.streams(""), CpOptions{}, "web:/tmp/g.txt", filepath.Join(dir, "back.txt")); err != nil {
		t.Fatalf("cp from: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(got) != "content" {
		t.Fatalf("cp round trip = %q", got)
	}
	if err := Copy(ctx, c, b.streams(""), CpOptions{}, "web:/a", "other:/b"); err == nil || err.Error() != "copying between containers is not supported" {
		t.Fatalf("cp between containers: %v", err)
	}

	// diff sees the copied file; commit makes an image of it.
	out.Reset()
	if err := Diff(ctx, c, &out, "web"); err != nil || !strings.Contains(out.String(), "A /tmp/g.txt\n") {
		t.Fatalf("diff: %v, %q", err, out.String())
	}
	out.Reset()
	if err := Commit(ctx, c, &out, CommitOptions{Pause: true, Message: "m", Changes: []string{"ENV COMMITTED=1"}}, "web", "snap:v1"); err != nil || !strings.HasPrefix(out.String(), "sha256:") {
		t.Fatalf("commit: %v, %q", err, out.String())
	}
	img, err := c.ImageInspect(ctx, "snap:v1")
	if err != nil || img.Config == nil || !strings.Contains(strings.Join(img.Config.Env, " "), "COMMITTED=1") {
		t.Fatalf("committed image: %+v, %v", img.Config, err)
	}

	// top lists the sleep.
	out.Reset()
	if err := Top(ctx, c, &out, "web", nil); err != nil || !strings.Contains(out.String(), "sleep 300") {
		t.Fatalf("top: %v, %q", err, out.String())
	}

	// inspect: a template per container, the missing one reported after.
	out.Reset()
	err = Inspect(ctx, c, &out, InspectOptions{Format: "{{.Name}} {{.State.Running}}"}, []string{"web", "nosuch"})
	var se *command.StatusError
	if !errors.As(err, &se) || se.Status != "Error: No such container: nosuch" || out.String() != "/web true\n" {
		t.Fatalf("inspect: %v, %q", err, out.String())
	}

	// stop and wait: the names printed, then the exit code (SIGKILL 137).
	b = buffers{}
	zero := 0
	if err := command.ForEach(ctx, &b.out, &b.err, []string{"web"}, func(ctx context.Context, n string) error {
		return c.ContainerStop(ctx, n, client.StopOptions{Timeout: &zero})
	}); err != nil || b.out.String() != "web\n" {
		t.Fatalf("stop: %v, %q", err, b.out.String())
	}
	b = buffers{}
	if err := Wait(ctx, c, &b.out, &b.err, []string{"web", "nosuch"}); exitCode(err) != 1 || b.out.String() != "137\n" || !strings.Contains(b.err.String(), "No such container: nosuch") {
		t.Fatalf("wait: %v, out %q err %q", err, b.out.String(), b.err.String())
	}

	// prune removes both stopped containers and lists them.
	out.Reset()
	if _, err := Prune(ctx, c, &out, nil); err != nil || !strings.HasPrefix(out.String(), "Deleted Containers:\n") || strings.Count(out.String(), "\n") != 4 {
		t.Fatalf("prune: %v, %q", err, out.String())
	}
	if list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true}); err != nil || len(list) != 0 {
		t.Fatalf("after prune: %d containers, %v", len(list), err)
	}
}

// TestCreateMissingImage checks create's pull of a missing image: the
// daemon's 404 leads to docker's message and one pull, and with
// --pull never to the daemon's error without a pull.
func TestCreateMissingImage(t *testing.T) {
	c, ctx := startBerthd(t)
	var pulled []string
	pull := func(_ context.Context, _ *client.Client, ref string, progress io.Writer) error {
		pulled = append(pulled, ref)
		io.WriteString(progress, "pulling\n")
		return errors.New("no registry here")
	}
	req := &container.CreateRequest{Config: &container.Config{Image: "nosuch/img"}, HostConfig: &container.HostConfig{}}
	var errOut bytes.Buffer
	_, err := Create(ctx, c, &errOut, pull, CreateOptions{Image: "nosuch/img", Pull: "missing", Request: req})
	if err == nil || err.Error() != "no registry here" || len(pulled) != 1 || pulled[0] != "nosuch/img" ||
		errOut.String() != "Unable to find image 'nosuch/img:latest' locally\npulling\n" {
		t.Fatalf("create missing: %v, pulled %v, %q", err, pulled, errOut.String())
	}
	pulled = nil
	errOut.Reset()
	_, err = Create(ctx, c, &errOut, pull, CreateOptions{Image: "nosuch/img", Pull: "never", Request: req})
	if client.StatusOf(err) != 404 || len(pulled) != 0 || errOut.Len() != 0 {
		t.Fatalf("create --pull never: %v, pulled %v, %q", err, pulled, errOut.String())
	}
	if list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true}); err != nil || len(list) != 0 {
		t.Fatalf("a failed create left %d containers, %v", len(list), err)
	}
}
