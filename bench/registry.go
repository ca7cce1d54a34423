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
	floor                  time.Duration // decompress and write the layers (perf.go), run before each pull and load
	pullRatio, loadRatio   float64       // median of each run's time over the floor run just before it
	pullCPU, registryCPU   time.Duration // the daemon's and the registry's CPU time per pull (median)
	floorCPU               time.Duration // the floor's CPU time (median)
}

// pullRuns is how many times pull and load are timed (each after a floor run).
const pullRuns = 5

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
	fl, err := newFloor(img, filepath.Dir(s.d.Root))
	if err != nil {
		return rt, fmt.Errorf("floor: %w", err)
	}
	if _, err := fl.once(); err != nil { // warm-up, not counted
		return rt, fmt.Errorf("floor: %w", err)
	}
	fl.runs, fl.cpu = nil, nil
	var pulls, ratios, daemonCPU, regCPU []time.Duration
	for i := 0; i < pullRuns; i++ {
		s.run(ctx, "rmi", "-f", ref)
		f, err := fl.once()
		if err != nil {
			return rt, fmt.Errorf("floor: %w", err)
		}
		d0, r0, start := procCPU(s.d.Pid()), procCPU(src.cmd.Process.Pid), time.Now()
		if _, err := s.run(ctx, "pull", ref); err != nil {
			return rt, fmt.Errorf("pull: %w", err)
		}
		took := time.Since(start)
		pulls = append(pulls, took)
		ratios = append(ratios, took*1000/f) // ‰, as a Duration to sort
		daemonCPU = append(daemonCPU, procCPU(s.d.Pid())-d0)
		regCPU = append(regCPU, procCPU(src.cmd.Process.Pid)-r0)
	}
	rt.pull, rt.pullRatio = medianOf(pulls), float64(medianOf(ratios))/1000
	rt.pullCPU, rt.registryCPU = medianOf(daemonCPU), medianOf(regCPU)
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
	var loads []time.Duration
	ratios = ratios[:0]
	for i := 0; i < pullRuns; i++ {
		s.run(ctx, "rmi", "-f", ref)
		f, err := fl.once()
		if err != nil {
			return rt, fmt.Errorf("floor: %w", err)
		}
		start := time.Now()
		if _, err := s.run(ctx, "load", "-i", tar); err != nil {
			return rt, fmt.Errorf("load: %w", err)
		}
		took := time.Since(start)
		loads = append(loads, took)
		ratios = append(ratios, took*1000/f)
	}
	rt.load, rt.loadRatio = medianOf(loads), float64(medianOf(ratios))/1000
	rt.floor, rt.floorCPU = medianOf(fl.runs), medianOf(fl.cpu)
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
