package hostfw

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/network/bridge"
	"github.com/berth-project/berth/internal/network/nettest"
)

// The tests run in private network namespaces, each with its own iptables
// ruleset, so they never touch the host's (or its dockerd's) rules.

var legacy = Family{"iptables-legacy", "iptables-legacy-restore"}

func privateNS(t *testing.T) string {
	t.Helper()
	nettest.RequireRoot(t)
	path := filepath.Join(t.TempDir(), "ns")
	if err := bridge.NewNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.DeleteNetNS(path) })
	return path
}

// in runs f in the namespace (the binaries it execs inherit it).
func in(t *testing.T, ns string, f func()) {
	t.Helper()
	if err := nettest.InNS(ns, func() error { f(); return nil }); err != nil {
		t.Fatal(err)
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return string(out)
}

// dockerLike installs what dockerd 20.10 does to FORWARD.
func dockerLike(t *testing.T, bin string) {
	t.Helper()
	for _, a := range [][]string{
		{"-P", "FORWARD", "DROP"},
		{"-N", "DOCKER"}, {"-N", "DOCKER-USER"}, {"-A", "DOCKER-USER", "-j", "RETURN"},
		{"-A", "FORWARD", "-j", "DOCKER-USER"},
		{"-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-o", "docker0", "-j", "DOCKER"},
		{"-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT"},
	} {
		sh(t, bin, append([]string{"-w"}, a...)...)
	}
}

func rules(t *testing.T, bin string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(sh(t, bin, "-w", "-S")), "\n")
}

// notOurs drops the lines naming chain.
func notOurs(lines []string, chain string) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.Contains(l, chain) })
}

func TestChainName(t *testing.T) {
	for table, want := range map[string]string{"berth": "BERTH-FORWARD", "berth-1a2b3c4d": "BERTH-FORWARD-1a2b3c4d"} {
		if got := ChainName(table); got != want {
			t.Errorf("ChainName(%q) = %q, want %q", table, got, want)
		}
	}
	if got := ChainName("berth-" + strings.Repeat("x", 40)); len(got) > 28 {
		t.Errorf("%q longer than iptables allows", got)
	}
}

// TestBesideDocker: rules go into DOCKER-USER first, per bridge, leave
// Docker's rules as they were, and go away with the last bridge; a second
// daemon's chain is independent. Run for the nft and the legacy backends
// and for ip6tables.
func TestBesideDocker(t *testing.T) {
	for _, fam := range []Family{IPv4, IPv6, legacy} {
		t.Run(fam.Save, func(t *testing.T) {
			if _, err := exec.LookPath(fam.Restore); err != nil {
				t.Skip(err)
			}
			ns := privateNS(t)
			ctx := context.Background()
			in(t, ns, func() {
				dockerLike(t, fam.Save)
				docker := rules(t, fam.Save)
				a, b := New("BERTH-FORWARD-a", fam), New("BERTH-FORWARD-b", fam)
				if err := a.Start(ctx); err != nil {
					t.Fatal(err)
				}
				if err := a.Allow(ctx, "br-one", false); err != nil {
					t.Fatal(err)
				}
				if err := a.Allow(ctx, "br-int", true); err != nil {
					t.Fatal(err)
				}
				if err := b.Allow(ctx, "br-two", false); err != nil {
					t.Fatal(err)
				}
				got := rules(t, fam.Save)
				for _, want := range []string{
					"-A BERTH-FORWARD-a -i br-one -j ACCEPT",
					"-A BERTH-FORWARD-a -o br-one -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
					"-A BERTH-FORWARD-a -o br-one -m conntrack --ctstate DNAT -j ACCEPT",
					"-A BERTH-FORWARD-a -i br-int -o br-int -j ACCEPT",
					"-A BERTH-FORWARD-b -i br-two -j ACCEPT",
				} {
					if !slices.Contains(got, want) {
						t.Errorf("missing %q in\n%s", want, strings.Join(got, "\n"))
					}
				}
				if n := strings.Count(strings.Join(got, "\n"), "-i br-int"); n != 1 {
					t.Errorf("internal bridge has %d rules, want only the one inside it", n)
				}
				// Both jumps come before Docker's RETURN in DOCKER-USER.
				user := slices.DeleteFunc(slices.Clone(got), func(l string) bool { return !strings.HasPrefix(l, "-A DOCKER-USER ") })
				if len(user) != 3 || user[2] != "-A DOCKER-USER -j RETURN" {
					t.Errorf("DOCKER-USER:\n%s", strings.Join(user, "\n"))
				}
				if o := notOurs(notOurs(got, "BERTH-FORWARD-a"), "BERTH-FORWARD-b"); !slices.Equal(o, docker) {
					t.Errorf("Docker's rules changed:\n%s\nwas\n%s", strings.Join(o, "\n"), strings.Join(docker, "\n"))
				}
				// Revoking one bridge keeps the other's rules.
				if err := a.Revoke(ctx, "br-one"); err != nil {
					t.Fatal(err)
				}
				if s := strings.Join(rules(t, fam.Save), "\n"); strings.Contains(s, "br-one") || !strings.Contains(s, "br-int") {
					t.Errorf("after revoking br-one:\n%s", s)
				}
				// a goes; b stays untouched.
				if err := a.Close(ctx); err != nil {
					t.Fatal(err)
				}
				got = rules(t, fam.Save)
				if s := strings.Join(got, "\n"); strings.Contains(s, "BERTH-FORWARD-a") || !strings.Contains(s, "-A BERTH-FORWARD-b -i br-two -j ACCEPT") {
					t.Errorf("after closing a:\n%s", s)
				}
				if err := b.Revoke(ctx, "br-two"); err != nil {
					t.Fatal(err)
				}
				if got := rules(t, fam.Save); !slices.Equal(got, docker) {
					t.Errorf("left after the last bridge went:\n%s", strings.Join(got, "\n"))
				}
			})
		})
	}
}

// TestStaleChainReplaced: a crashed daemon's chain and jump (even a
// duplicated jump) are replaced by the next daemon of the same name.
func TestStaleChainReplaced(t *testing.T) {
	ns := privateNS(t)
	ctx := context.Background()
	in(t, ns, func() {
		dockerLike(t, "iptables")
		docker := rules(t, "iptables")
		crashed := New("BERTH-FORWARD-c")
		if err := crashed.Allow(ctx, "br-old", false); err != nil {
			t.Fatal(err)
		}
		sh(t, "iptables", "-w", "-I", "FORWARD", "1", "-j", "BERTH-FORWARD-c") // an older jump elsewhere
		next := New("BERTH-FORWARD-c")
		if err := next.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rules(t, "iptables"); !slices.Equal(got, docker) {
			t.Fatalf("stale rules kept:\n%s", strings.Join(got, "\n"))
		}
		if err := next.Allow(ctx, "br-new", false); err != nil {
			t.Fatal(err)
		}
		if err := next.Allow(ctx, "br-new", false); err != nil { // again: idempotent
			t.Fatal(err)
		}
		s := strings.Join(rules(t, "iptables"), "\n")
		if strings.Count(s, "-j BERTH-FORWARD-c") != 1 || strings.Count(s, "-i br-new -j ACCEPT") != 1 || strings.Contains(s, "br-old") {
			t.Fatalf("after restart:\n%s", s)
		}
		if err := next.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNoDockerNoTable: where FORWARD accepts everything, nothing is
// installed (no filter table appears); without DOCKER-USER but with a DROP
// policy the jump goes first into FORWARD.
func TestNoDockerNoTable(t *testing.T) {
	ns := privateNS(t)
	ctx := context.Background()
	in(t, ns, func() {
		f := New("BERTH-FORWARD-n", IPv4)
		if err := f.Allow(ctx, "br-x", false); err != nil {
			t.Fatal(err)
		}
		if out := sh(t, "nft", "list", "tables"); strings.TrimSpace(out) != "" {
			t.Fatalf("tables made on a host without iptables rules: %s", out)
		}
		sh(t, "iptables", "-w", "-P", "FORWARD", "DROP")
		sh(t, "iptables", "-w", "-A", "FORWARD", "-i", "other", "-j", "ACCEPT")
		if err := f.Allow(ctx, "br-y", false); err != nil {
			t.Fatal(err)
		}
		got := rules(t, "iptables")
		if i := slices.Index(got, "-A FORWARD -j BERTH-FORWARD-n"); i < 0 || !strings.HasPrefix(got[i+1], "-A FORWARD -i other") {
			t.Fatalf("jump not first in FORWARD:\n%s", strings.Join(got, "\n"))
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if s := strings.Join(rules(t, "iptables"), "\n"); strings.Contains(s, "BERTH") || strings.Contains(s, "br-") {
			t.Fatalf("left after close:\n%s", s)
		}
	})
}
