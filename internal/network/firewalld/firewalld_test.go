package firewalld

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/network/firewalld/fwdtest"
)

// TestNoFirewalld: without a bus, or with a bus but no firewalld on it,
// Open gives a nil Binder whose methods do nothing.
func TestNoFirewalld(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	ctx := context.Background()
	b, err := Open(ctx, nil)
	if err != nil || b != nil {
		t.Fatalf("no bus: %v %v", b, err)
	}
	if err := errorsOf(b.Add(ctx, "br-x"), b.Remove(ctx, "br-x"), b.Close(ctx), b.Detach()); err != "" {
		t.Errorf("nil binder: %s", err)
	}

	env := fwdtest.New(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", env.BusAddr)
	if b, err := Open(ctx, nil); err != nil || b != nil {
		t.Fatalf("bus without firewalld: %v %v", b, err)
	}
}

// TestBinder against a real firewalld (private namespace and bus): the zone
// is made on first use, bridges are bound and unbound, bindings come back
// after firewalld's reload and restart, a bridge an administrator bound
// elsewhere stays there, and a stopped firewalld does not fail Close.
func TestBinder(t *testing.T) {
	env := fwdtest.New(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", env.BusAddr)
	env.StartFirewalld()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	b, err := Open(ctx, nil)
	if err != nil || b == nil {
		t.Fatalf("open: %v %v", b, err)
	}
	defer b.Close(ctx)
	if _, ok, err := Bindings(ctx); ok || err != nil {
		t.Fatalf("zone %s before any bridge: %v %v", Zone, ok, err)
	}
	for _, br := range []string{"br-one", "br-two"} {
		if err := b.Add(ctx, br); err != nil {
			t.Fatal(err)
		}
	}
	// Twice is fine.
	if err := b.Add(ctx, "br-one"); err != nil {
		t.Fatal(err)
	}
	wantBound(t, "after Add", "br-one", "br-two")
	if out, err := env.Cmd("--permanent", "--zone="+Zone, "--get-target"); err != nil || out != "ACCEPT" {
		t.Errorf("zone target: %q %v", out, err)
	}
	if out, err := env.Cmd("--permanent", "--get-zones"); err != nil || !slices.Contains(strings.Fields(out), Zone) {
		t.Errorf("zone %s is not permanent: %q %v", Zone, out, err)
	}
	if err := b.Remove(ctx, "br-one"); err != nil {
		t.Fatal(err)
	}
	wantBound(t, "after Remove", "br-two")

	// A reload drops runtime bindings; the binder puts them back.
	if _, err := env.Cmd("--reload"); err != nil {
		t.Fatal(err)
	}
	waitBound(t, "after a reload", "br-two")

	// So does a restart (a new owner of firewalld's bus name).
	if err := env.StopFirewalld(); err != nil {
		t.Fatal(err)
	}
	env.StartFirewalld()
	waitBound(t, "after a restart", "br-two")

	// An administrator's choice of zone is kept.
	if _, err := env.Cmd("--zone=trusted", "--add-interface=br-admin"); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, "br-admin"); err != nil {
		t.Fatal(err)
	}
	wantBound(t, "after Add of an interface in another zone", "br-two")

	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantBound(t, "after Close")
	if out, err := env.Cmd("--get-zone-of-interface=br-admin"); err != nil || out != "trusted" {
		t.Errorf("Close moved br-admin: %q %v", out, err)
	}

	// A firewalld that went away: Close neither fails nor hangs.
	b2, err := Open(ctx, nil)
	if err != nil || b2 == nil {
		t.Fatalf("open: %v %v", b2, err)
	}
	if err := b2.Add(ctx, "br-three"); err != nil {
		t.Fatal(err)
	}
	if err := env.StopFirewalld(); err != nil {
		t.Fatal(err)
	}
	if err := b2.Close(ctx); err != nil {
		t.Errorf("close with firewalld gone: %v", err)
	}
}

func wantBound(t *testing.T, when string, want ...string) {
	t.Helper()
	got, _, err := Bindings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: zone %s holds %q, want %q", when, Zone, got, want)
	}
}

func waitBound(t *testing.T, when string, want ...string) {
	t.Helper()
	var got []string
	for i := 0; i < 100; i++ {
		got, _, _ = Bindings(context.Background())
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s: zone %s holds %q, want %q", when, Zone, got, want)
}

func errorsOf(errs ...error) string {
	var s []string
	for _, err := range errs {
		if err != nil {
			s = append(s, err.Error())
		}
	}
	return strings.Join(s, "; ")
}
