package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serve runs h on a unix socket in a temp dir and returns a client for it.
func serve(t *testing.T, h http.Handler) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	c, err := New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNegotiateAndErrors(t *testing.T) {
	for _, tc := range []struct{ server, want string }{{"1.41", "1.41"}, {"1.52", "1.50"}, {"", "1.50"}} {
		var paths []string
		c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			paths = append(paths, r.Method+" "+r.URL.Path)
			if r.URL.Path == "/_ping" {
				if r.Method == http.MethodHead {
					w.WriteHeader(http.StatusNotFound) // force the GET fallback
					return
				}
				if tc.server != "" {
					w.Header().Set("Api-Version", tc.server)
				}
				_, _ = io.WriteString(w, "OK")
				return
			}
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"No such container: x"}`)
		}))
		err := c.Get(context.Background(), "/containers/x/json", nil, nil)
		if c.Version() != tc.want {
			t.Errorf("server %q: negotiated %q, want %q", tc.server, c.Version(), tc.want)
		}
		if err == nil || err.Error() != "Error response from daemon: No such container: x" || StatusOf(err) != 404 {
			t.Errorf("error = %v (status %d)", err, StatusOf(err))
		}
		if got := strings.Join(paths, ","); got != "HEAD /_ping,GET /_ping,GET /v"+tc.want+"/containers/x/json" {
			t.Errorf("requests = %s", got)
		}
	}
}

func TestConnErrorWording(t *testing.T) {
	c, err := New("unix://" + filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Negotiate(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "Cannot connect to the Docker daemon at unix://") {
		t.Errorf("err = %v", err)
	}
}

// TestHijackHalfClose: after the 101, stdin end is a half-close and the
// output that follows it still arrives.
func TestHijackHalfClose(t *testing.T) {
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.50")
			return
		}
		if r.Header.Get("Upgrade") != "tcp" || r.Header.Get("Connection") != "Upgrade" {
			http.Error(w, "no upgrade", http.StatusBadRequest)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		in, _ := io.ReadAll(bufio.NewReader(buf)) // until the client's half-close
		_, _ = io.WriteString(conn, "got:"+string(in))
	}))
	h, err := c.Hijack(context.Background(), Request{Method: http.MethodPost, Path: "/containers/x/attach"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.Multiplexed {
		t.Error("multiplexed content type not noticed")
	}
	_, _ = io.WriteString(h, "hello")
	if err := h.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(h)
	if string(out) != "got:hello" {
		t.Errorf("read %q after half-close", out)
	}
}
