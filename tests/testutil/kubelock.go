package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// KubeLockPath is the host-wide lock held by every test that brings a
// Kubernetes cluster up. One cluster runs per host at a time: kube-proxy's
// nftables table is always named "ip kube-proxy", so `cluster up` refuses
// while another daemon's cluster owns it. Tests, the bench (and developers
// running clusters by hand: `flock /run/berth-kube-tests.lock ...`) queue
// here instead of failing on that refusal.
const KubeLockPath = "/run/berth-kube-tests.lock"

// LockKube blocks until the caller holds the host's cluster lock; release
// gives it back.
func LockKube() (release func(), waited time.Duration, err error) {
	f, err := os.OpenFile(KubeLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster lock: %w", err)
	}
	t0 := time.Now()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("cluster lock: %w", err)
	}
	return func() { f.Close() }, time.Since(t0), nil
}

// KubeLock is LockKube for a test, released at cleanup (registered first,
// so it runs after the cleanups that bring the cluster down).
func KubeLock(t testing.TB) {
	t.Helper()
	release, waited, err := LockKube()
	if err != nil {
		t.Fatal(err)
	}
	if waited > time.Second {
		t.Logf("waited %s for another cluster test to finish", waited.Round(time.Second))
	}
	t.Cleanup(release)
}

// KubeBinDir is the cached Kubernetes binaries' directory (make kube), or
// "" when no cache holds them all.
func KubeBinDir() string {
	dirs, _ := filepath.Glob("/var/cache/berth-kube/k8s-*/bin")
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	return ""
}
