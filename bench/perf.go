package main

// The figures issue 16 sets goals for beyond the core rows: the daemon's
// idle RSS, `ps` over 1000 containers, and the floor pull and load are
// measured against (decompressing and writing the image's bytes).

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/tests/testutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// idleRSS is the daemon's own resident memory (kB) once it has started
// and imported the busybox image, before any container ran.
func idleRSS(pid int) (int, error) {
	time.Sleep(2 * time.Second) // let start-up work settle
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmRSS")
}

// psContainers is how many containers `ps -a` lists in the ps row.
const psContainers = 1000

// psTimes is `ps -a` over psContainers containers: end to end through
// each CLI (with the CLI's own CPU time, which a busy machine inflates
// less than wall time), the API request alone, and the daemon's CPU time
// per request.
type psTimes struct {
	docker, dockerCPU time.Duration
	berth, berthCPU   time.Duration
	api, daemonCPU    time.Duration
	// The docker CLI's own share: the same `ps -a` against a replay of the
	// daemon's answers from memory, and a `ps -a` that lists no container
	// (its fixed cost: start-up, the ping, one request).
	replay, replayCPU time.Duration
	none, noneCPU     time.Duration
}

// measurePs creates psContainers containers (not started) through the API,
// 8 at a time, then times `ps -a` over them and removes them.
func measurePs(ctx context.Context, s *session, runs int) (psTimes, error) {
	var pt psTimes
	api, err := s.d.Client(ctx)
	if err != nil {
		return pt, err
	}
	var mu sync.Mutex
	var ids []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	req := &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"true"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"}}
	for i := 0; i < psContainers; i++ {
		g.Go(func() error {
			resp, err := api.ContainerCreate(gctx, "", req)
			if err != nil {
				return fmt.Errorf("create: %w", err)
			}
			mu.Lock()
			ids = append(ids, resp.ID)
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	defer func() {
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for _, id := range ids {
			g.Go(func() error {
				_ = api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
				return nil
			})
		}
		g.Wait()
	}()
	if err != nil {
		return pt, err
	}
	// listing runs `ps -a` (and extra) through dr, checks it listed want
	// containers (at least; none for 0) below the header and notes the
	// CLI's CPU time.
	listing := func(dr testutil.Driver, cpu *[]time.Duration, want int, extra ...string) func() error {
		return func() error {
			cmd := dr.Command(ctx, append([]string{"ps", "-a"}, extra...)...)
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s ps -a: %w", dr.Name, err)
			}
			*cpu = append(*cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			if n := bytes.Count(out.Bytes(), []byte("\n")) - 1; n < want || want == 0 && n != 0 {
				return fmt.Errorf("%s ps -a %v listed %d containers, want %d", dr.Name, extra, n, want)
			}
			return nil
		}
	}
	cli := func(dr testutil.Driver, cpu *[]time.Duration) func() error { return listing(dr, cpu, psContainers) }
	var dockerCPU, berthCPU, replayCPU, noneCPU []time.Duration
	if pt.docker, err = median(runs, cli(s.cli, &dockerCPU)); err != nil {
		return pt, err
	}
	pt.dockerCPU = medianOf(dockerCPU)
	if pt.none, err = median(runs, listing(s.cli, &noneCPU, 0, "--filter", "name=^berth-bench-no-such-container$")); err != nil {
		return pt, err
	}
	pt.noneCPU = medianOf(noneCPU)
	rp, err := startReplay(s.d.Sock, filepath.Join(s.d.Dir, "replay.sock"))
	if err != nil {
		return pt, err
	}
	defer rp.Close()
	replayed := s.cli
	replayed.Args = []string{"-H", "unix://" + filepath.Join(s.d.Dir, "replay.sock")}
	if err := listing(replayed, new([]time.Duration), psContainers)(); err != nil { // keeps the answers
		return pt, err
	}
	if pt.replay, err = median(runs, listing(replayed, &replayCPU, psContainers)); err != nil {
		return pt, err
	}
	pt.replayCPU = medianOf(replayCPU)
	for _, dr := range testutil.Drivers(s.d, filepath.Join(s.d.Dir, "cfg")) {
		if dr.Name != "berth" {
			continue
		}
		if pt.berth, err = median(runs, cli(dr, &berthCPU)); err != nil {
			return pt, err
		}
		pt.berthCPU = medianOf(berthCPU)
	}
	// The row times the daemon's answer, not the client's decoding of a
	// thousand summaries, so this one call reads the body undecoded.
	get := func() error {
		resp, err := api.Do(ctx, client.Request{Method: "GET", Path: "/containers/json", Query: url.Values{"all": {"1"}}})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if pt.api, err = median(runs, get); err != nil {
		return pt, err
	}
	const n = 20
	before := procCPU(s.d.Pid())
	for i := 0; i < n; i++ {
		if err := get(); err != nil {
			return pt, err
		}
	}
	pt.daemonCPU = (procCPU(s.d.Pid()) - before) / n
	return pt, nil
}

// procCPU is the user+system CPU time process pid has used (10 ms ticks).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// floor is what pulling or loading img cannot avoid: decompress each
// layer and write its files (all layers at once, as both engines may),
// then make them durable with syncfs, into a fresh directory under dir
// (on the filesystem the daemons keep their data on). The bench runs it
// right before every pull and load, so that each ratio to it compares
// runs made under the same load.
type floor struct {
	dir   string
	blobs [][]byte // the compressed layers, in memory as from a fast network
	runs  []time.Duration
	cpu   []time.Duration // this process's CPU time per run
}

func newFloor(img v1.Image, dir string) (*floor, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	f := &floor{dir: dir}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		f.blobs = append(f.blobs, b)
	}
	return f, nil
}

// once times one run and keeps its figures.
func (f *floor) once() (time.Duration, error) {
	cpu0, start := selfCPU(), time.Now()
	root, err := os.MkdirTemp(f.dir, "berth-bench-floor")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	var g errgroup.Group
	for i, b := range f.blobs {
		g.Go(func() error { return extract(b, filepath.Join(root, strconv.Itoa(i))) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	d, err := os.Open(root)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return 0, err
	}
	took := time.Since(start)
	f.runs = append(f.runs, took)
	f.cpu = append(f.cpu, selfCPU()-cpu0)
	return took, nil
}

// selfCPU is the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// extract gunzips one layer blob and writes its regular files under dst.
func extract(blob []byte, dst string) error {
	zr, err := gzipReader(bytes.NewReader(blob))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// gzipReader is klauspost's decoder, the fastest in-process gunzip the
// module has.
func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
