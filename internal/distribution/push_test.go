package distribution

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func newRegs(t *testing.T, cfg RegistryConfig) *Registries {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	r, err := NewRegistries(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pulled stores a random image pulled from a fresh registry as
// <host>/demo/bb:v1 and returns the store, registry host and image.
func pulled(t *testing.T, regs *Registries, wrap func(http.Handler) http.Handler) (*image.Store, string, *image.Image) {
	t.Helper()
	needRoot(t)
	host := newRegistry(t, wrap)
	push(t, host+"/demo/bb:v1", randomImage(t, 3))
	store := newStore(t)
	res, err := Pull(context.Background(), store, host+"/demo/bb:v1", PullOptions{Registries: regs}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return store, host, res.Image
}

// pushTo pushes ref and returns the decoded progress stream.
func pushTo(t *testing.T, store *image.Store, ref string, opts PushOptions) ([]PushResult, []byte, error) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Push(context.Background(), store, ref, opts, &buf)
	return res, buf.Bytes(), err
}

func TestPushUploadsThenSkips(t *testing.T) {
	regs := newRegs(t, RegistryConfig{})
	store, host, img := pulled(t, regs, nil)
	ctx := context.Background()
	target := host + "/other/copy:t1"
	if err := store.Tag(ctx, img.ID, target); err != nil {
		t.Fatal(err)
	}
	res, out, err := pushTo(t, store, target, PushOptions{Registries: regs})
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	ms := messages(t, out)
	if ms[0].Status != "The push refers to repository ["+host+"/other/copy]" {
		t.Errorf("first message %+v", ms[0])
	}
	for _, l := range img.Layers {
		id := layerID(l)
		// ggcr's registry ignores mount requests: the layer is uploaded.
		if !hasStatus(ms, id, "Preparing") || !hasStatus(ms, id, "Pushed") {
			t.Errorf("layer %s: %s", id, out)
		}
	}
	if len(res) != 1 || !strings.Contains(string(out), "t1: digest: "+res[0].Digest.String()) {
		t.Fatalf("result %+v\n%s", res, out)
	}
	if !strings.Contains(string(out), `"aux":{"Tag":"t1","Digest":"`+res[0].Digest.String()) {
		t.Errorf("no aux: %s", out)
	}

	// What the registry has is a schema2 image whose layers are our layers.
	ref, _ := name.ParseReference(target, name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.DockerManifestSchema2 || desc.Digest.String() != res[0].Digest.String() {
		t.Errorf("manifest %s %s, want %s", desc.MediaType, desc.Digest, res[0].Digest)
	}
	rimg, _ := desc.Image()
	if cn, _ := rimg.ConfigName(); cn.String() != img.ID.String() {
		t.Errorf("config %s, want %s", cn, img.ID)
	}
	layers, _ := rimg.Layers()
	for i, l := range layers {
		if d, err := l.DiffID(); err != nil || d.String() != img.Layers[i].String() {
			t.Errorf("layer %d diffID %s %v, want %s", i, d, err, img.Layers[i])
		}
	}
	got, _ := store.Resolve(ctx, host+"/other/copy@"+res[0].Digest.String())
	if got == nil || got.ID != img.ID {
		t.Errorf("RepoDigest not recorded: %+v", got)
	}

	// Pushed again, every layer is known to be there.
	_, out, err = pushTo(t, store, target, PushOptions{Registries: regs})
	if err != nil {
		t.Fatal(err)
	}
	ms = messages(t, out)
	for _, l := range img.Layers {
		if !hasStatus(ms, layerID(l), "Layer already exists") {
			t.Errorf("second push of %s: %s", layerID(l), out)
		}
	}
}

// mountable answers cross-repository mounts for blobs the registry has,
// which ggcr's registry does not do by itself.
func mountable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("mount")
		if r.Method != http.MethodPost || d == "" {
			next.ServeHTTP(w, r)
			return
		}
		from := r.URL.Query().Get("from")
		head := httptest.NewRecorder()
		next.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/v2/"+from+"/blobs/"+d, nil))
		if head.Code != http.StatusOK {
			next.ServeHTTP(w, r)
			return
		}
		repo := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/uploads/")
		w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
		w.WriteHeader(http.StatusCreated)
	})
}

func TestPushMountsFromPulledRepository(t *testing.T) {
	regs := newRegs(t, RegistryConfig{})
	store, host, img := pulled(t, regs, mountable)
	target := host + "/other/mounted:v1"
	if err := store.Tag(context.Background(), img.ID, target); err != nil {
		t.Fatal(err)
	}
	_, out, err := pushTo(t, store, target, PushOptions{Registries: regs})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, l := range img.Layers {
		if !hasStatus(messages(t, out), layerID(l), "Mounted from demo/bb") {
			t.Errorf("layer %s not mounted: %s", layerID(l), out)
		}
	}
}

func TestPushAllTagsAndMissing(t *testing.T) {
	regs := newRegs(t, RegistryConfig{MaxUploads: 1})
	store, host, img := pulled(t, regs, nil)
	ctx := context.Background()
	for _, tag := range []string{"b", "a"} {
		if err := store.Tag(ctx, img.ID, host+"/all/x:"+tag); err != nil {
			t.Fatal(err)
		}
	}
	res, out, err := pushTo(t, store, host+"/all/x", PushOptions{Registries: regs})
	if err != nil || len(res) != 2 || res[0].Tag != "a" || res[1].Tag != "b" {
		t.Fatalf("push -a: %+v %v\n%s", res, err, out)
	}
	// One upload at a time: the other layers wait their turn.
	if !strings.Contains(string(out), `"status":"Waiting"`) {
		t.Errorf("no Waiting with max-concurrent-uploads 1: %s", out)
	}

	for ref, want := range map[string]string{
		host + "/nothing/here":     "An image does not exist locally with the tag: " + host + "/nothing/here",
		host + "/all/x:nosuch":     "tag does not exist: " + host + "/all/x:nosuch",
		host + "/nothing/here:tag": "An image does not exist locally with the tag: " + host + "/nothing/here",
	} {
		_, out, err := pushTo(t, store, ref, PushOptions{Registries: regs})
		if !errdefs.IsNotFound(err) || err.Error() != want || len(out) != 0 {
			t.Errorf("push %s: %v (output %q), want %q", ref, err, out, want)
		}
	}
}

func TestPushWrongCredentials(t *testing.T) {
	regs := newRegs(t, RegistryConfig{})
	store, _, img := pulled(t, regs, nil)
	authHost := newRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pw" {
				w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	target := authHost + "/demo/private:v1"
	if err := store.Tag(context.Background(), img.ID, target); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pushTo(t, store, target, PushOptions{Registries: regs}); err == nil || err.Error() != "no basic auth credentials" {
		t.Fatalf("anonymous: %v", err)
	}
	_, out, err := pushTo(t, store, target, PushOptions{Registries: regs, Auth: &authn.Basic{Username: "user", Password: "bad"}})
	if err == nil || err.Error() != "unauthorized: authentication required" || !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	if _, out, err := pushTo(t, store, target, PushOptions{Registries: regs, Auth: &authn.Basic{Username: "user", Password: "pw"}}); err != nil {
		t.Fatalf("right password: %v\n%s", err, out)
	}
}

// hangingListener accepts connections and never answers.
func hangingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestUnreachableRegistryIsBounded(t *testing.T) {
	regs := newRegs(t, RegistryConfig{PingTimeout: 300 * time.Millisecond})
	store, _, img := pulled(t, regs, nil)
	host := hangingListener(t)
	ctx := context.Background()
	if err := store.Tag(ctx, img.ID, host+"/x/y:1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err := pushTo(t, store, host+"/x/y:1", PushOptions{Registries: regs})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "Client.Timeout exceeded while awaiting headers") {
		t.Errorf("push: %v", err)
	}
	_, err = Pull(ctx, store, host+"/x/z:1", PullOptions{Registries: regs}, io.Discard)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("pull: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}
