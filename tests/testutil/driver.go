package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DockerCLI is the real docker CLI 28 used as one of the two drivers.
const DockerCLI = "/usr/local/bin/docker"

// Driver runs a Docker-compatible CLI against one daemon.
type Driver struct {
	Name string
	Bin  string
	Args []string // global args before the subcommand
	Env  []string
}

// Result is one finished CLI invocation.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r Result) String() string {
	return fmt.Sprintf("%q → exit %d\nstdout: %s\nstderr: %s", r.Args, r.Code, r.Stdout, r.Stderr)
}

// Out is stdout with surrounding whitespace trimmed.
func (r Result) Out() string { return strings.TrimSpace(r.Stdout) }

// Drivers returns the docker CLI and, when built, bin/berth (or the binary
// named by BERTH_TEST_CLI), both pointed at d. BERTH_TEST_DRIVERS=docker or
// =berth keeps only one of them.
func Drivers(d *Daemon, cfgDir string) []Driver {
	docker := DockerDriver(d, cfgDir)
	env := docker.Env
	out := []Driver{docker}
	berth := filepath.Join(BinDir(d.RepoDir), "berth")
	if v := os.Getenv("BERTH_TEST_CLI"); v != "" {
		berth = v
	}
	if _, err := os.Stat(berth); err == nil {
		out = append(out, Driver{Name: "berth", Bin: berth, Args: []string{"-H", "unix://" + d.Sock}, Env: env})
	}
	only := os.Getenv("BERTH_TEST_DRIVERS")
	if only == "" {
		return out
	}
	var kept []Driver
	for _, dr := range out {
		if strings.Contains(","+only+",", ","+dr.Name+",") {
			kept = append(kept, dr)
		}
	}
	return kept
}

// DockerDriver is the real docker CLI pointed at d, used for fixtures and
// cleanup whatever drivers the scenarios run with.
func DockerDriver(d *Daemon, cfgDir string) Driver {
	env := append(os.Environ(), "DOCKER_HOST=unix://"+d.Sock, "DOCKER_CONFIG="+cfgDir,
		"DOCKER_CLI_HINTS=false", "BERTH_HOST=", "DOCKER_CONTEXT=")
	return Driver{Name: "docker", Bin: DockerCLI, Env: env}
}

// Command builds the exec.Cmd for args.
func (dr Driver) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, dr.Bin, append(append([]string{}, dr.Args...), args...)...)
	cmd.Env = dr.Env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs the CLI with stdin from in (nil for none) and a 30 second cap.
func (dr Driver) Run(ctx context.Context, in io.Reader, args ...string) Result {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := dr.Command(ctx, args...)
	cmd.Stdin = in
	return RunCommand(ctx, cmd, args)
}

// RunCommand runs cmd (made with ctx), capturing its output, and reports
// it as a Result for args: the exit code, or -1 and a "[harness]" line
// when it was killed or did not run.
func RunCommand(ctx context.Context, cmd *exec.Cmd, args []string) Result {
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := Result{Args: args, Stdout: so.String(), Stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.Code = -1
		r.Stderr += "\n[harness] killed: " + ctx.Err().Error()
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Stderr += "\n[harness] " + err.Error()
	}
	return r
}
