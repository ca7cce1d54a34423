package testutil

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// KubeLockPath is the host-wide lock held by every test that brings a
// Kubernetes cluster up. One cluster runs per host at a time: kube-proxy's
// nftables table is always named "ip kube-proxy", so `cluster up` refuses
// while another daemon's cluster owns it. Tests (and developers running
// clusters by hand: `flock /run/berth-kube-tests.lock ...`) queue here
// instead of failing on that refusal.
const KubeLockPath = "/run/berth-kube-tests.lock"

// KubeLock blocks until this test holds the host's cluster lock and
// releases it at cleanup (registered first, so it runs after the cleanups
// that bring the cluster down).
func KubeLock(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(KubeLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("cluster lock: %v", err)
	}
	t0 := time.Now()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("cluster lock: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Logf("waited %s for another cluster test to finish", d.Round(time.Second))
	}
	t.Cleanup(func() { f.Close() })
}
