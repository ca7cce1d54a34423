package registry

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// BenchmarkPushPull200MB pushes and pulls an image of four 50 MB layers
// (random, so incompressible) through a filesystem-backed registry; it
// measures the server's side of `make bench` without an engine.
func BenchmarkPushPull200MB(b *testing.B) {
	cfg, err := Options{Root: b.TempDir(), Addr: "127.0.0.1:0"}.Config()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, cfg)
	if err == nil {
		err = srv.Listen(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	img, err := random.Image(50<<20, 4)
	if err != nil {
		b.Fatal(err)
	}
	var pushTotal, pullTotal time.Duration
	b.SetBytes(200 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := name.ParseReference(fmt.Sprintf("%s/bench/img%d:1", srv.Addr(), i))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := remote.Write(r, img, remote.WithJobs(4)); err != nil {
			b.Fatal(err)
		}
		pushTotal += time.Since(start)
		start = time.Now()
		got, err := remote.Image(r)
		if err != nil {
			b.Fatal(err)
		}
		layers, err := got.Layers()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
		pullTotal += time.Since(start)
	}
	b.ReportMetric(pushTotal.Seconds()/float64(b.N), "push-s/op")
	b.ReportMetric(pullTotal.Seconds()/float64(b.N), "pull-s/op")
}
