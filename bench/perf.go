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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
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

// measurePs creates psContainers containers (not started) through the API,
// 8 at a time, then times `docker ps -a` over them (end to end, the CLI
// included) and removes them.
func measurePs(ctx context.Context, s *session, runs int) (time.Duration, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.d.Sock)
		},
		MaxIdleConnsPerHost: 8,
	}}
	var mu sync.Mutex
	var ids []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	body := []byte(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}`)
	for i := 0; i < psContainers; i++ {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(gctx, "POST", "http://engine/containers/create", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("create: %s: %s", resp.Status, b)
			}
			if i := bytes.Index(b, []byte(`"Id":"`)); i >= 0 {
				mu.Lock()
				ids = append(ids, string(b[i+6:i+6+64]))
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	defer func() {
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for _, id := range ids {
			g.Go(func() error {
				req, _ := http.NewRequestWithContext(ctx, "DELETE", "http://engine/containers/"+id+"?force=1", nil)
				if resp, err := hc.Do(req); err == nil {
					resp.Body.Close()
				}
				return nil
			})
		}
		g.Wait()
	}()
	if err != nil {
		return 0, err
	}
	return median(runs, func() error {
		out, err := s.run(ctx, "ps", "-a")
		if err == nil && strings.Count(out, "\n") < psContainers {
			err = fmt.Errorf("ps -a listed %d lines, want %d containers", strings.Count(out, "\n"), psContainers)
		}
		return err
	})
}

// measureFloor times what pulling or loading img cannot avoid: decompress
// each layer and write its files (all layers at once, as both engines
// may), then make them durable with syncfs, into a fresh directory under
// dir (on the filesystem the daemons keep their data on).
func measureFloor(img v1.Image, dir string, runs int) (time.Duration, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	// The compressed bytes come from memory, as from a fast network.
	var blobs [][]byte
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return 0, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
		blobs = append(blobs, b)
	}
	once := func() error {
		root, err := os.MkdirTemp(dir, "berth-bench-floor")
		if err != nil {
			return err
		}
		defer os.RemoveAll(root)
		var g errgroup.Group
		for i, b := range blobs {
			g.Go(func() error { return extract(b, filepath.Join(root, strconv.Itoa(i))) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		f, err := os.Open(root)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Syncfs(int(f.Fd()))
	}
	return median(runs, once)
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
