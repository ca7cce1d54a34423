package cluster

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// kubeBuildScript builds the upstream components from the Go module proxy
// into a versioned cache (scripts/kube-build.sh runs the same file). It is a
// no-op that prints the bin directory when the cache is warm.
//
//go:embed kube-build.sh
var kubeBuildScript []byte

// kubeBinaries are the programs a cluster runs.
var kubeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "coredns"}

// ErrNoBinaries is returned, wrapped, when the binaries are not built and
// the caller asked not to build them.
var ErrNoBinaries = errors.New("the Kubernetes binaries are not built on this host")

// ensureBinaries runs the build script (which says what it builds on its
// stderr, copied to progress line by line) and returns the bin directory.
// Without build it only checks the cache and says what to run when it is
// incomplete: a cold build takes about ten minutes, too long for a request
// such as swarm init to wait on.
func ensureBinaries(ctx context.Context, cacheDir string, build bool, progress func(string)) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-s")
	cmd.Stdin = bytes.NewReader(kubeBuildScript)
	cmd.Env = os.Environ()
	if cacheDir != "" {
		cmd.Env = append(cmd.Env, "BERTH_KUBE_CACHE="+cacheDir)
	}
	if !build {
		cmd.Env = append(cmd.Env, "BERTH_KUBE_CHECK=1")
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	done := make(chan struct{})
	var errTail []string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			errTail = append(errTail, line)
			if len(errTail) > 20 {
				errTail = errTail[1:]
			}
			if strings.HasPrefix(line, "kube-build:") {
				progress(line)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if !build && err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			missing := ""
			for _, l := range errTail {
				if m, ok := strings.CutPrefix(l, "kube-missing: "); ok {
					missing = m
				}
			}
			return "", fmt.Errorf("%w (missing in %s): run `make kube` in Berth's source tree (a first build takes about 10 minutes; `berth cluster up` also builds them), then try again", ErrNoBinaries, missing)
		}
	}
	if err != nil {
		return "", fmt.Errorf("building the Kubernetes binaries failed (%v):\n%s", err, strings.Join(errTail, "\n"))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	for _, b := range kubeBinaries {
		if _, err := os.Stat(dir + "/" + b); err != nil {
			return "", fmt.Errorf("kube-build left no %s in %s", b, dir)
		}
	}
	return dir, nil
}
