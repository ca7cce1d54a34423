package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// composeServices is the size of the project the compose rows bring up.
const composeServices = 10

// composeTimes are the medians of `up -d` and `down` of a 10-service
// project, through `berth compose` and through docker-compose v1.
type composeTimes struct {
	berthUp, berthDown time.Duration
	v1Up, v1Down       time.Duration
}

// composeProject writes a project of n busybox services (each exits at
// once on SIGTERM, so down measures the engine, not stop timeouts).
func composeProject(n int) (string, error) {
	dir, err := os.MkdirTemp("", "berth-bench-compose")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap exit TERM; sleep 600 & wait\"]\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(b.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// measureCompose times up -d and down with each compose client available.
func measureCompose(ctx context.Context, s *session, runs int) (composeTimes, error) {
	var ct composeTimes
	dir, err := composeProject(composeServices)
	if err != nil {
		return ct, err
	}
	defer os.RemoveAll(dir)
	berth := filepath.Join(testutil.BinDir(s.d.RepoDir), "berth")
	env := append(os.Environ(), "DOCKER_HOST=unix://"+s.d.Sock, "BERTH_HOST=", "COMPOSE_PROJECT_NAME=benchc")
	run := func(bin string, args ...string) error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %w: %s", filepath.Base(bin), args, err, out)
		}
		return nil
	}
	pair := func(bin string, pre ...string) (up, down time.Duration, err error) {
		upArgs := append(append([]string{}, pre...), "up", "-d")
		downArgs := append(append([]string{}, pre...), "down", "-t", "5")
		upf := func() error { return run(bin, upArgs...) }
		downf := func() error { return run(bin, downArgs...) }
		defer downf()
		// Each timed up follows an untimed down, and each timed down an up.
		if up, err = medianWithSetup(runs, downf, upf); err != nil {
			return 0, 0, err
		}
		down, err = medianWithSetup(runs, upf, downf)
		return up, down, err
	}
	if ct.berthUp, ct.berthDown, err = pair(berth, "compose"); err != nil {
		return ct, err
	}
	if v1, err := exec.LookPath("docker-compose"); err == nil {
		if ct.v1Up, ct.v1Down, err = pair(v1); err != nil {
			return ct, err
		}
	}
	return ct, nil
}
