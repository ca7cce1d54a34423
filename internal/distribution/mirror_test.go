package distribution

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	digest "github.com/opencontainers/go-digest"
)

func dg(s string) digest.Digest { return digest.Digest(s) }

func TestRegistryConfigValidation(t *testing.T) {
	for _, bad := range []RegistryConfig{
		{Mirrors: []string{"ftp://mirror"}},
		{Mirrors: []string{"https://u:p@mirror"}},
		{Mirrors: []string{"https://mirror/some/path"}},
		{Mirrors: []string{"https://mirror/?q=1"}},
		{Mirrors: []string{"mirror:5000"}},
		{Insecure: []string{"ftp://reg:5000"}},
		{Insecure: []string{"reg:"}},
		{MaxDownloads: -1},
		{MaxUploads: -1},
	} {
		if _, err := NewRegistries(bad); !errdefs.IsInvalid(err) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	r, err := NewRegistries(RegistryConfig{Mirrors: []string{"https://mirror.example:5000"},
		Insecure: []string{"10.0.0.0/8", "myreg:5000", "http://plain.example"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true,
		"10.1.2.3:5000": true, "10.1.2.3": true, "11.1.2.3": false,
		"myreg:5000": true, "myreg:5001": false, "plain.example": true, "plain.example:443": true,
		"registry-1.docker.io": false,
	} {
		if got := r.isInsecure(host); got != want {
			t.Errorf("isInsecure(%q) = %v, want %v", host, got, want)
		}
	}
	sc := r.ServiceConfig()
	if len(sc.Mirrors) != 1 || sc.Mirrors[0] != "https://mirror.example:5000/" {
		t.Errorf("mirrors %v", sc.Mirrors)
	}
	var cidrs []string
	for _, p := range sc.InsecureRegistryCIDRs {
		cidrs = append(cidrs, p.String())
	}
	if strings.Join(cidrs, ",") != "127.0.0.0/8,::1/128,10.0.0.0/8" {
		t.Errorf("cidrs %v", cidrs)
	}
	if ic := sc.IndexConfigs["myreg:5000"]; ic == nil || ic.Secure {
		t.Errorf("index myreg:5000: %+v", ic)
	}
	if ic := sc.IndexConfigs["docker.io"]; ic == nil || !ic.Secure || !ic.Official || len(ic.Mirrors) != 1 {
		t.Errorf("index docker.io: %+v", ic)
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A mirror that has the image serves it; one that does not, or is down,
// is passed over for the origin. The origin is not Docker Hub.
func TestPullMirrorFallback(t *testing.T) {
	needRoot(t)
	origin, mirror := newRegistry(t, nil), newRegistry(t, nil)
	fromOrigin2, fromMirror := randomImage(t, 1), randomImage(t, 1)
	push(t, origin+"/demo/bb:v1", randomImage(t, 1))
	push(t, origin+"/demo/bb:v2", fromOrigin2)
	push(t, mirror+"/demo/bb:v1", fromMirror)
	regs := newRegs(t, RegistryConfig{Mirrors: []string{"http://" + closedPort(t), "http://" + mirror}})
	store := newStore(t)
	ctx := context.Background()

	res, err := Pull(ctx, store, origin+"/demo/bb:v1", PullOptions{Registries: regs}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image.ID.String() != configID(t, fromMirror) {
		t.Errorf("v1 came from the origin, not the mirror")
	}
	if img, err := store.Resolve(ctx, origin+"/demo/bb:v1"); err != nil || img.ID != res.Image.ID {
		t.Errorf("tagged under the origin's name: %v", err)
	}

	res, err = Pull(ctx, store, origin+"/demo/bb:v2", PullOptions{Registries: regs}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image.ID.String() != configID(t, fromOrigin2) {
		t.Errorf("v2 did not fall back to the origin")
	}
}

func TestPullAllTags(t *testing.T) {
	needRoot(t)
	host := newRegistry(t, nil)
	push(t, host+"/demo/bb:v1", randomImage(t, 1))
	push(t, host+"/demo/bb:v2", randomImage(t, 1))
	store := newStore(t)
	var buf bytes.Buffer
	res, err := PullAll(context.Background(), store, host+"/demo/bb", PullOptions{}, &buf)
	if err != nil || len(res) != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	ms := messages(t, buf.Bytes())
	if !hasStatus(ms, "v1", "Pulling from demo/bb") || !hasStatus(ms, "v2", "Pulling from demo/bb") {
		t.Errorf("per-tag headers missing: %s", buf.Bytes())
	}
	if last := ms[len(ms)-1].Status; last != "Status: Downloaded newer image for "+host+"/demo/bb" {
		t.Errorf("last status %q", last)
	}
	if _, err := PullAll(context.Background(), store, host+"/demo/bb:v1", PullOptions{}, io.Discard); !errdefs.IsInvalid(err) {
		t.Errorf("tagged ref: %v", err)
	}
	buf.Reset()
	if _, err := PullAll(context.Background(), store, host+"/demo/bb", PullOptions{}, &buf); err != nil ||
		!strings.Contains(buf.String(), "Status: Image is up to date for "+host+"/demo/bb") {
		t.Errorf("second pull -a: %v %s", err, buf.Bytes())
	}
}

func TestBlobInfo(t *testing.T) {
	b := &blobInfo{dir: t.TempDir()}
	diff := "sha256:" + strings.Repeat("a", 64)
	d1, d2 := "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	b.add(dg(diff), blobSource{Digest: dg(d1), Size: 1, Repo: "r/a"})
	b.add(dg(diff), blobSource{Digest: dg(d2), Size: 2, Repo: "r/b"})
	b.add(dg(diff), blobSource{Digest: dg(d1), Size: 1, Repo: "r/a"})
	got := b.get(dg(diff))
	if len(got) != 2 || got[0].Repo != "r/a" || got[1].Repo != "r/b" {
		t.Errorf("got %+v", got)
	}
	var none *blobInfo
	none.add(dg(diff), blobSource{Digest: dg(d1)})
	if none.get(dg(diff)) != nil {
		t.Error("nil blobInfo remembered something")
	}
}
