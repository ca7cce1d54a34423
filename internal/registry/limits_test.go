package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A push whose blob is over the cap is refused with 413 (monolithic or
// chunked); one under it goes through.
func TestBlobSizeCap(t *testing.T) {
	srv := startServer(t, Options{})
	srv.SetUploadLimits(64<<10, 0)
	small, _ := random.Image(8<<10, 1)
	if err := remote.Write(ref(t, srv, "lim/small:v1"), small); err != nil {
		t.Fatalf("push under the cap: %v", err)
	}
	big, _ := random.Image(256<<10, 1)
	err := remote.Write(ref(t, srv, "lim/big:v1"), big)
	if err == nil || !strings.Contains(err.Error(), "size limit") {
		t.Fatalf("push over the cap: %v", err)
	}
	// Chunk by chunk, each under the cap, the total over it.
	base := "http://" + srv.Addr().String()
	resp, err := http.Post(base+"/v2/lim/chunks/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	chunk := bytes.Repeat([]byte("x"), 40<<10)
	var last int
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(chunk))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = resp.StatusCode
		if l := resp.Header.Get("Location"); l != "" {
			loc = l
			if !strings.HasPrefix(loc, "http") {
				loc = base + loc
			}
		}
		if last == http.StatusRequestEntityTooLarge {
			break
		}
	}
	if last != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunks adding up past the cap: last status %d", last)
	}
}

// An upload that stops sending is dropped after the idle timeout.
func TestUploadIdleTimeout(t *testing.T) {
	srv := startServer(t, Options{})
	srv.SetUploadLimits(0, 500*time.Millisecond)
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v2/idle/x/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome-bytes")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.Copy(io.Discard, c) // returns when the server gives up on us
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a stalled upload held its connection for %s", d)
	}
}

// htpasswd over plain HTTP is refused on a non-loopback address and
// allowed on loopback.
func TestHtpasswdNeedsTLSOffLoopback(t *testing.T) {
	pw := writeHtpasswd(t, "u", "p")
	for addr, ok := range map[string]bool{"0.0.0.0:0": false, "[::]:0": false, "127.0.0.1:0": true, "localhost:0": true} {
		cfg, err := Options{Root: t.TempDir(), Addr: addr, Htpasswd: pw}.Config()
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), cfg)
		if ok != (err == nil) {
			t.Errorf("%s: %v", addr, err)
		}
		if err == nil {
			s.app.Shutdown()
		} else if !strings.Contains(err.Error(), "plain HTTP") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
