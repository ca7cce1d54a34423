package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"golang.org/x/sys/unix"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "volumes")
	s, err := New(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestCreateGetReopen(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	v, err := s.Create(ctx, "data", "", nil, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(root, "data", "_data") || v.Driver != "local" || v.Labels["k"] != "v" {
		t.Fatalf("volume = %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	// Creating it again returns the existing volume, as dockerd does.
	again, err := s.Create(ctx, "data", "local", nil, map[string]string{"other": "x"})
	if err != nil || again.Labels["k"] != "v" || again.Labels["other"] != "" {
		t.Fatalf("re-create = %+v, %v", again, err)
	}
	anon, err := s.Create(ctx, "", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(anon.Name) != 64 || !anon.Anonymous() {
		t.Fatalf("anonymous volume = %+v", anon)
	}
	s2, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get(ctx, "data")
	if err != nil || got.Labels["k"] != "v" || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Fatalf("reopened = %+v, %v", got, err)
	}
	if len(s2.List(ctx, nil)) != 2 {
		t.Fatalf("reopened list = %v", s2.List(ctx, nil))
	}
}

func TestCreateErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	cases := []struct {
		name, driver string
		opts         map[string]string
		class        func(error) bool
		msg          string
	}{
		{"./x", "", nil, errdefs.IsInvalid, `create ./x: "./x" includes invalid characters for a local volume name`},
		{"ok", "nfsplugin", nil, errdefs.IsNotFound, `error looking up volume plugin nfsplugin: plugin "nfsplugin" not found`},
		{"ok", "", map[string]string{"bogus": "1"}, errdefs.IsInvalid, `create ok: invalid option: "bogus"`},
		{"ok", "", map[string]string{"type": "tmpfs"}, errdefs.IsInvalid, `create ok: missing required option: "device"`},
	}
	for _, c := range cases {
		_, err := s.Create(ctx, c.name, c.driver, c.opts, nil)
		if err == nil || !c.class(err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Create(%q, %q, %v) = %v, want %q", c.name, c.driver, c.opts, err, c.msg)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errdefs.IsNotFound(err) || err.Error() != "get nope: no such volume" {
		t.Errorf("Get missing = %v", err)
	}
	if len(s.List(ctx, nil)) != 0 {
		t.Errorf("failed creates left volumes: %v", s.List(ctx, nil))
	}
}

func TestRefcountAndRemove(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	if _, err := s.Create(ctx, "shared", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire("shared", "ctr2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire("shared", "ctr1"); err != nil {
		t.Fatal(err)
	}
	err := s.Remove(ctx, "shared", false)
	if !errdefs.IsConflict(err) || err.Error() != "remove shared: volume is in use - [ctr1, ctr2]" {
		t.Fatalf("remove in use = %v", err)
	}
	// force does not override "in use", as in Docker.
	if err := s.Remove(ctx, "shared", true); !errdefs.IsConflict(err) {
		t.Fatalf("force remove in use = %v", err)
	}
	s.Release(ctx, "shared", "ctr1")
	s.Release(ctx, "shared", "ctr2")
	if n := s.RefCount("shared"); n != 0 {
		t.Fatalf("refcount = %d", n)
	}
	if err := s.Remove(ctx, "shared", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "shared")); !os.IsNotExist(err) {
		t.Fatalf("volume dir left: %v", err)
	}
	if err := s.Remove(ctx, "shared", false); !errdefs.IsNotFound(err) {
		t.Fatalf("remove missing = %v", err)
	}
	if err := s.Remove(ctx, "shared", true); err != nil {
		t.Fatalf("force remove missing = %v", err)
	}
	if err := s.Acquire("shared", "x"); !errdefs.IsNotFound(err) {
		t.Fatalf("acquire missing = %v", err)
	}
}

func args(kv ...string) filters.Args {
	a := filters.Args{}
	for i := 0; i < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

func names(vs []*Volume) string {
	var n []string
	for _, v := range vs {
		n = append(n, v.Name)
	}
	return strings.Join(n, ",")
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.Create(ctx, "alpha", "", nil, map[string]string{"k": "v"})
	s.Create(ctx, "beta", "", nil, map[string]string{"k": "v2"})
	s.Create(ctx, "gamma", "", nil, nil)
	s.Acquire("beta", "c1")
	cases := []struct {
		f    filters.Args
		want string
	}{
		{args(), "alpha,beta,gamma"},
		{args("dangling", "true"), "alpha,gamma"},
		{args("dangling", "false"), "beta"},
		{args("label", "k"), "alpha,beta"},
		{args("label", "k=v"), "alpha"},
		{args("label!", "k=v"), "beta,gamma"},
		{args("name", "mm"), "gamma"},
		{args("driver", "local", "name", "a"), "alpha,beta,gamma"},
		{args("dangling", "true", "label", "k=v"), "alpha"},
	}
	for _, c := range cases {
		m, err := ListFilter(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(s.List(ctx, m)); got != c.want {
			t.Errorf("List(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	if _, err := ListFilter(args("until", "1h")); !errdefs.IsInvalid(err) || err.Error() != "invalid filter 'until'" {
		t.Errorf("bad key = %v", err)
	}
	if _, err := ListFilter(args("dangling", "maybe")); !errdefs.IsInvalid(err) {
		t.Errorf("bad dangling = %v", err)
	}
}

func TestPruneRules(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	named, _ := s.Create(ctx, "named", "", nil, map[string]string{"k": "v"})
	anonUsed, _ := s.Create(ctx, "", "", nil, nil)
	anonFree, _ := s.Create(ctx, "", "", nil, map[string]string{"k": "v"})
	s.Acquire(anonUsed.Name, "c1")
	os.WriteFile(filepath.Join(anonFree.Mountpoint, "f"), make([]byte, 1000), 0o644)

	m, err := PruneFilter(args("label", "k=v"))
	if err != nil {
		t.Fatal(err)
	}
	deleted, space, err := s.Prune(ctx, m)
	if err != nil || strings.Join(deleted, ",") != anonFree.Name || space != 1000 {
		t.Fatalf("prune = %v %d %v; want only the unused anonymous volume", deleted, space, err)
	}
	m, _ = PruneFilter(args("all", "true"))
	deleted, _, err = s.Prune(ctx, m)
	if err != nil || strings.Join(deleted, ",") != named.Name {
		t.Fatalf("prune all = %v %v", deleted, err)
	}
	if got := names(s.List(ctx, nil)); got != anonUsed.Name {
		t.Fatalf("left = %q, want the volume in use", got)
	}
	if _, err := PruneFilter(args("dangling", "true")); !errdefs.IsInvalid(err) {
		t.Fatalf("prune bad filter = %v", err)
	}
}

func TestTmpfsVolumeMountedAtFirstUse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	ctx := context.Background()
	s, root := newStore(t)
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1234,noexec"}
	v, err := s.Create(ctx, "tmp", "", opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(v.Mountpoint, unix.MNT_DETACH) })
	p, err := s.Mount(ctx, "tmp", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount(ctx, "tmp", "c2"); err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
		t.Fatalf("not a tmpfs: %v type %x", err, sfs.Type)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil || st.Uid != 1234 {
		t.Fatalf("uid option not applied: %v uid %d", err, st.Uid)
	}
	if sfs.Flags&unix.ST_NOEXEC == 0 {
		t.Fatalf("noexec flag not applied: %x", sfs.Flags)
	}
	// Reopening the store sees the mount still there.
	if s2, err := New(ctx, root); err != nil || !s2.vols["tmp"].mounted {
		t.Fatalf("reopened store lost the mount state: %v", err)
	}
	if err := s.Unmount(ctx, "tmp", "c1"); err != nil {
		t.Fatal(err)
	}
	if !mountedPaths()[p] {
		t.Fatal("unmounted while c2 still uses it")
	}
	if err := s.Release(ctx, "tmp", "c2"); err != nil {
		t.Fatal(err)
	}
	if mountedPaths()[p] {
		t.Fatal("still mounted after the last user")
	}
	// Remove unmounts too.
	if _, err := s.Mount(ctx, "tmp", "c3"); err != nil {
		t.Fatal(err)
	}
	s.Unmount(ctx, "tmp", "c3")
	if _, err := s.Mount(ctx, "tmp", "c4"); err != nil {
		t.Fatal(err)
	}
	s.vols["tmp"].active = map[string]bool{} // as after a daemon restart: mounted, no users
	if err := s.Remove(ctx, "tmp", false); err != nil {
		t.Fatal(err)
	}
	if mountedPaths()[p] {
		t.Fatal("remove left the tmpfs mounted")
	}
}

// An anonymous volume remembers the container whose create made it, across
// a reopen (the daemon's crash repair reads it); a named one does not.
func TestCreateForOwner(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	anon, err := s.CreateFor(ctx, "ctr1", "", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateFor(ctx, "ctr1", "named", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	s2, err := New(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.OwnedBy("ctr1"); len(got) != 1 || got[0] != anon.Name {
		t.Errorf("OwnedBy(ctr1) = %v, want [%s]", got, anon.Name)
	}
	if got := s2.OwnedBy(""); len(got) != 0 {
		t.Errorf("OwnedBy(\"\") = %v, want none", got)
	}
}
