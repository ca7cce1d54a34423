package registry

import (
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
