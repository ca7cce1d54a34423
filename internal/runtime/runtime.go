// Package runtime drives an OCI runtime binary (runc, crun). It is the
// only place in berthd that executes one: typed options become argv, and
// failures come back as errors carrying the runtime's own message, which
// is what Docker shows users ("OCI runtime exec failed: ..."), in runc's
// words and with Docker's exit codes (wording.go) whichever runtime ran.
// The one other caller is cmd/berth-monitor, which runs create, start and
// delete of its own container without linking this package (it stays a
// small binary) and hands the runtime's raw message back to be worded here.
package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime is one configured OCI runtime.
type Runtime struct {
	Name string // as in HostConfig.Runtime, e.g. "runc"
	Path string // the binary
	Root string // its --root: per daemon, <exec-root>/runtime/<name>
	// Inner is the crun that Path, cmd/berth-crun, runs with the host's
	// cgroup2 mount out of its view; "" for a runtime run as it is. The
	// monitors run Inner themselves in such a mount namespace (ForMonitor),
	// which spares a process and crun's copy of itself on every create.
	Inner string

	seccomp  seccompMemo
	exe      *os.File // sealed copy of the binary (UseSealedCopy), or nil
	innerExe *os.File // sealed copy of Inner, or nil
}

// State is `runtime state`'s answer.
type State struct {
	ID      string    `json:"id"`
	Pid     int       `json:"pid"`
	Status  string    `json:"status"` // created, running, paused, stopped
	Bundle  string    `json:"bundle"`
	Created time.Time `json:"created"`
}

// globalArgs come before the subcommand. JSON logs let us pick the error
// message out of stderr without guessing at logrus' text quoting.
func (r *Runtime) globalArgs() []string {
	return []string{"--root", r.Root, "--log-format", "json"}
}

// run executes one subcommand and returns its stdout.
func (r *Runtime) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := r.command(ctx, append(r.globalArgs(), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, r.commandError(args[0], err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// commandError turns a failed invocation into an error whose message is
// the runtime's, classed so callers can branch on missing containers and
// wrong states.
func (r *Runtime) commandError(sub string, runErr error, stderr []byte) error {
	msg := runtimeMessage(stderr)
	if msg == "" {
		return fmt.Errorf("%s %s: %w", r.Name, sub, runErr)
	}
	return classify(msg)
}

// classify wraps a runtime message in the errdefs class callers test.
func classify(msg string) error {
	err := errors.New(msg)
	switch {
	case strings.Contains(msg, "does not exist"):
		return errdefs.NotFound(err)
	case strings.Contains(msg, "not running"), strings.Contains(msg, "not paused"),
		strings.Contains(msg, "is paused"), strings.Contains(msg, "cannot delete"):
		return errdefs.Conflict(err)
	}
	return err
}

// runtimeMessage extracts the error from a runtime's output: the last
// error-level JSON log entry, else the last plain line (runc also prints
// its fatal error unformatted; crun prints only that).
func runtimeMessage(out []byte) string {
	var jsonMsg, plain string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e struct{ Level, Msg string }
		if line[0] == '{' && json.Unmarshal(line, &e) == nil {
			if e.Level == "error" || e.Level == "fatal" {
				jsonMsg = e.Msg
			}
			continue
		}
		plain = string(line)
	}
	if jsonMsg != "" {
		return DockerWording(jsonMsg)
	}
	return DockerWording(strings.TrimPrefix(plain, "Error: "))
}

// State reports the container's state.
func (r *Runtime) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(ctx, nil, "state", id)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("%s state: %w", r.Name, err)
	}
	return &s, nil
}

// Kill sends sig to the container's init, or to all its processes.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	_, err := r.run(ctx, nil, append(args, id, strconv.Itoa(int(sig)))...)
	return err
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, err := r.run(ctx, nil, "pause", id)
	return err
}

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, err := r.run(ctx, nil, "resume", id)
	return err
}

// Update applies new cgroup limits to a running container.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%s update: %w", r.Name, err)
	}
	_, err = r.run(ctx, bytes.NewReader(b), "update", "--resources", "-", id)
	return err
}

// Ps lists the host pids of the container's processes.
func (r *Runtime) Ps(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, nil, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("%s ps: %w", r.Name, err)
	}
	return pids, nil
}

// Delete removes the container's runtime state. force also kills it.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, nil, append(args, id)...)
	return err
}

// Version returns the runtime's version ("1.1.5+ds1" from "runc version
// 1.1.5+ds1").
func (r *Runtime) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, r.Path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", r.Name, err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if _, v, ok := strings.Cut(first, " version "); ok {
		return strings.TrimSpace(v), nil
	}
	return strings.TrimSpace(first), nil
}
