package registry

import (
	"context"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/sirupsen/logrus"
)

func TestMain(m *testing.M) {
	// distribution logs every request at info; tests only need failures.
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// startServer runs a registry for o on a free loopback port until the test
// ends.
func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	srv, _ := startStoppable(t, o)
	return srv
}

// startStoppable is startServer with an early stop; the stop function is
// safe to call more than once and runs at cleanup anyway.
func startStoppable(t *testing.T, o Options) (*Server, func()) {
	t.Helper()
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	o.Addr = "127.0.0.1:0"
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	return serveStoppable(t, cfg)
}

// serveStoppable serves cfg (whose address must have port 0) in-process.
func serveStoppable(t *testing.T, cfg *configuration.Configuration) (*Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg)
	if err == nil {
		err = srv.Listen(ctx)
	}
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		defer cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return srv, stop
}

// ref names repo:tag on srv.
func ref(t *testing.T, srv *Server, repoTag string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(srv.Addr().String() + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(4096, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
