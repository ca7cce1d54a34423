// Package nettest holds helpers for root tests of the network packages:
// running code inside a network namespace and choosing subnets that no host
// route uses.
package nettest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/vishvananda/netns"
)

// FreePort46 is a TCP port free on both 0.0.0.0 and [::] now (a port
// published without a host address is bound on both).
func FreePort46(t testing.TB) int {
	t.Helper()
	for range 50 {
		l4, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l4.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp6", "[::]:"+strconv.Itoa(p))
		l4.Close()
		if err == nil {
			l6.Close()
			return p
		}
	}
	t.Fatal("no port free on both families")
	return 0
}

// RequireRoot skips t when not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// Name returns prefix + 6 random hex characters (short enough for an
// interface name).
func Name(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// InNS runs f on a thread switched into the namespace at path. The thread
// is discarded if it cannot be switched back.
func InNS(path string, f func() error) error {
	errCh := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errCh <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errCh <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errCh <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errCh <- err // thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errCh <- ferr
	}()
	return <-errCh
}

// FreeSubnet picks a /24 under 10.213.0.0/16 that overlaps no route in used.
func FreeSubnet(used []netip.Prefix, skip int) (netip.Prefix, error) {
	for i := 1 + skip; i < 255; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(i), 0}), 24)
		ok := true
		for _, u := range used {
			if u.Overlaps(p) {
				ok = false
				break
			}
		}
		if ok {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free test subnet")
}
