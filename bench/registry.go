package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-project/berth/tests/testutil"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryTimes are the medians of pull, push, save and load of a ~200 MB
// image of 4 layers through a local berth-registry.
type registryTimes struct {
	pull, push, save, load time.Duration
	floor                  time.Duration // decompress and write the layers (perf.go)
}

// benchImageSize is the bytes of each of the 4 layers.
const benchImageSize = 50 << 20

// registryServer is one berth-registry on a fresh root.
type registryServer struct {
	addr string
	cmd  *exec.Cmd
	dir  string
}

func startRegistry() (*registryServer, error) {
	repo, err := testutil.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "berth-bench-registry")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(filepath.Join(testutil.BinDir(repo), "berth-registry"), "serve", "--addr", addr, "--root", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &registryServer{addr: addr, cmd: cmd, dir: dir}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("berth-registry did not listen on %s", addr)
}

func (r *registryServer) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
	os.RemoveAll(r.dir)
}

// measureRegistry pulls the image from one registry (removing it between
// runs) and pushes it to a fresh registry each run, so every push uploads
// all its layers; then times save and load of it.
func measureRegistry(ctx context.Context, s *session, runs int) (registryTimes, error) {
	var rt registryTimes
	src, err := startRegistry()
	if err != nil {
		return rt, err
	}
	defer src.stop()
	img, err := random.Image(benchImageSize, 4)
	if err != nil {
		return rt, err
	}
	ref := src.addr + "/bench/big:v1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return rt, err
	}
	if err := remote.Write(r, img); err != nil {
		return rt, err
	}
	defer s.run(ctx, "rmi", "-f", ref)
	if rt.floor, err = measureFloor(img, filepath.Dir(s.d.Root), runs); err != nil {
		return rt, fmt.Errorf("floor: %w", err)
	}
	if rt.pull, err = medianWithSetup(runs,
		func() error { s.run(ctx, "rmi", "-f", ref); return nil },
		func() error { _, err := s.run(ctx, "pull", ref); return err }); err != nil {
		return rt, fmt.Errorf("pull: %w", err)
	}
	var dst *registryServer
	defer func() {
		if dst != nil {
			dst.stop()
		}
	}()
	var target string
	if rt.push, err = medianWithSetup(runs,
		func() error {
			if dst != nil {
				s.run(ctx, "rmi", target)
				dst.stop()
			}
			if dst, err = startRegistry(); err != nil {
				return err
			}
			target = dst.addr + "/bench/big:v1"
			_, err := s.run(ctx, "tag", ref, target)
			return err
		},
		func() error { _, err := s.run(ctx, "push", target); return err }); err != nil {
		return rt, fmt.Errorf("push: %w", err)
	}
	s.run(ctx, "rmi", target)
	tar := filepath.Join(os.TempDir(), "berth-bench-save.tar")
	defer os.Remove(tar)
	if rt.save, err = medianWithSetup(runs, func() error { return nil },
		func() error { _, err := s.run(ctx, "save", "-o", tar, ref); return err }); err != nil {
		return rt, fmt.Errorf("save: %w", err)
	}
	if rt.load, err = medianWithSetup(runs,
		func() error { s.run(ctx, "rmi", "-f", ref); return nil },
		func() error { _, err := s.run(ctx, "load", "-i", tar); return err }); err != nil {
		return rt, fmt.Errorf("load: %w", err)
	}
	return rt, nil
}

// medianWithSetup is median with an untimed setup before every run.
func medianWithSetup(n int, setup, f func() error) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if err := setup(); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	return medianOf(ds), nil
}
