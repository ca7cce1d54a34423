package cluster

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
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

// ensureBinaries runs the build script (which says what it builds on its
// stderr, copied to progress line by line) and returns the bin directory.
func ensureBinaries(ctx context.Context, cacheDir string, progress func(string)) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-s")
	cmd.Stdin = bytes.NewReader(kubeBuildScript)
	cmd.Env = os.Environ()
	if cacheDir != "" {
		cmd.Env = append(cmd.Env, "BERTH_KUBE_CACHE="+cacheDir)
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
