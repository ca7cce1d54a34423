package etcfiles

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteHostname(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hostname")
	if err := WriteHostname(p, "abc123"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != "abc123\n" {
		t.Errorf("hostname = %q", got)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v err %v", st.Mode(), err)
	}
	// Overwrite leaves no temp files behind.
	if err := WriteHostname(p, "other"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 || read(t, p) != "other\n" {
		t.Errorf("dir has %d entries, content %q", len(ents), read(t, p))
	}
}

func TestWriteHosts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	err := WriteHosts(p, "abc123", "", []string{"172.17.0.2"}, []string{"db:10.0.0.5", "v6:2001:db8::1", "br=[fe80::1]"})
	if err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n10.0.0.5\tdb\n2001:db8::1\tv6\nfe80::1\tbr\n172.17.0.2\tabc123\n"
	if got := read(t, p); got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
	if err := WriteHosts(p, "web", "example.com", []string{"10.1.0.2"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); !strings.HasSuffix(got, "ff02::2\tip6-allrouters\n10.1.0.2\tweb.example.com web\n") {
		t.Errorf("fqdn hosts =\n%s", got)
	}
	for _, bad := range []string{"noip", ":1.2.3.4", "x:notanip", "x:host-gateway"} {
		if err := WriteHosts(p, "h", "", nil, []string{bad}); !errdefs.IsInvalid(err) {
			t.Errorf("%q: err = %v, want Invalid", bad, err)
		}
	}
}

func TestWriteResolvConf(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host-resolv.conf")
	if err := os.WriteFile(host, []byte("# host\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\nsearch corp.example\noptions edns0 trust-ad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	localOnly := filepath.Join(dir, "local-only")
	if err := os.WriteFile(localOnly, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "resolv.conf")
	tests := []struct {
		name                 string
		host                 string
		dns, search, options []string
		want                 string
	}{
		{"copy without loopback", host, nil, nil, nil, "# host\nsearch corp.example\nnameserver 10.0.0.1\noptions edns0 trust-ad\n"},
		{"fallback", localOnly, nil, nil, nil, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"missing host file", filepath.Join(dir, "none"), nil, nil, nil, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"overrides", host, []string{"1.1.1.1", "9.9.9.9"}, []string{"a.example", "b.example"}, []string{"ndots:2"},
			"# host\nsearch a.example b.example\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"},
		{"search dot clears", host, nil, []string{"."}, nil, "# host\nnameserver 10.0.0.1\noptions edns0 trust-ad\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteResolvConf(out, tt.host, tt.dns, tt.search, tt.options); err != nil {
				t.Fatal(err)
			}
			if got := read(t, out); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	if err := WriteResolvConf(filepath.Join(dir, "no/such/dir/resolv.conf"), host, nil, nil, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestUpdateHost(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	in := "127.0.0.1\tlocalhost\n172.17.0.3\tdb abc child\n172.17.0.3\tdbx other\n172.17.0.2\tme\n"
	if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateHost(p, "172.17.0.9", "db"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "127.0.0.1\tlocalhost\n172.17.0.9\tdb abc child\n172.17.0.3\tdbx other\n172.17.0.2\tme\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBuildEmbeddedResolvConf(t *testing.T) {
	host := []byte("nameserver 10.0.0.1\nsearch corp.example\noptions edns0\n")
	tests := []struct {
		name    string
		host    []byte
		options []string
		want    string
	}{
		{"ndots added", host, nil, "search corp.example\nnameserver 10.0.1.1\noptions edns0 ndots:0\n"},
		{"host ndots kept", []byte("nameserver 10.0.0.1\noptions ndots:3\n"), nil, "nameserver 10.0.1.1\noptions ndots:3\n"},
		{"--dns-option ndots kept", host, []string{"ndots:2"}, "search corp.example\nnameserver 10.0.1.1\noptions ndots:2\n"},
		{"invalid ndots replaced", host, []string{"ndots:x", "rotate"}, "search corp.example\nnameserver 10.0.1.1\noptions rotate ndots:0\n"},
	}
	for _, tt := range tests {
		if got := string(BuildEmbeddedResolvConf(tt.host, "10.0.1.1", nil, tt.options)); got != tt.want {
			t.Errorf("%s: got\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func TestRewriteResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := WriteResolvConfData(p, []byte("nameserver 10.0.0.1\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// In place: a bind mount of the file keeps seeing it.
	if ok, err := RewriteResolvConf(p, []byte("nameserver 10.0.1.1\noptions ndots:0\n")); !ok || err != nil {
		t.Fatalf("rewrite: %v %v", ok, err)
	}
	st2, err := os.Stat(p)
	if err != nil || !os.SameFile(st, st2) || read(t, p) != "nameserver 10.0.1.1\noptions ndots:0\n" {
		t.Fatalf("rewrite gave %q (same file %v)", read(t, p), os.SameFile(st, st2))
	}
	// Edited by the container's user: left alone.
	if err := os.WriteFile(p, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := RewriteResolvConf(p, []byte("nameserver 10.0.0.1\n")); ok || err != nil || read(t, p) != "nameserver 192.0.2.1\n" {
		t.Errorf("edited file: ok=%v err=%v content %q", ok, err, read(t, p))
	}
}

func TestHostEntries(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts")
	if err := WriteHosts(p, "web", "example.com", []string{"172.17.0.2"}, []string{"other:172.18.0.9"}); err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("172.18.0.3"), netip.MustParseAddr("fd00::3")}
	if err := AddHostEntries(p, "web", "example.com", ips); err != nil {
		t.Fatal(err)
	}
	want := defaultHosts + "172.18.0.9\tother\n172.17.0.2\tweb.example.com web\n172.18.0.3\tweb.example.com web\nfd00::3\tweb.example.com web\n"
	if got := read(t, p); got != want {
		t.Fatalf("after add:\n%q\nwant\n%q", got, want)
	}
	if err := DeleteHostEntries(p, "web", "example.com", ips); err != nil {
		t.Fatal(err)
	}
	want = defaultHosts + "172.18.0.9\tother\n172.17.0.2\tweb.example.com web\n"
	if got := read(t, p); got != want {
		t.Fatalf("after delete:\n%q\nwant\n%q", got, want)
	}
	// A hostname that is an FQDN gets its short name too, as in dockerd.
	if got := hostNames("a.b.c", ""); got != "a.b.c a" {
		t.Errorf("hostNames = %q", got)
	}
}
