package registry

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
)

// DefaultMaxBlobSize caps one blob upload (all its chunks together). A
// registry open to pushes is otherwise a way to fill its disk with one
// endless upload.
const DefaultMaxBlobSize int64 = 10 << 30

// DefaultUploadIdle is how long an upload may send nothing before its
// connection is dropped: a client that trickles bytes (or none) cannot
// hold a connection and an upload slot for ever.
const DefaultUploadIdle = 60 * time.Second

// uploadLimits wraps the registry's handler: blob upload bodies (POST,
// PATCH, PUT under /blobs/uploads/) are counted per upload session against
// max, and each read must make progress within idle.
type uploadLimits struct {
	next http.Handler
	max  int64
	idle time.Duration

	mu    sync.Mutex
	seen  map[string]int64 // upload UUID -> bytes received so far
	touch map[string]time.Time
}

func newUploadLimits(next http.Handler, max int64, idle time.Duration) *uploadLimits {
	return &uploadLimits{next: next, max: max, idle: idle, seen: map[string]int64{}, touch: map[string]time.Time{}}
}

func (u *uploadLimits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := strings.Index(r.URL.Path, "/blobs/uploads/")
	if i < 0 || (r.Method != http.MethodPost && r.Method != http.MethodPatch && r.Method != http.MethodPut) || r.Body == nil {
		u.next.ServeHTTP(w, r)
		return
	}
	session := strings.Trim(r.URL.Path[i+len("/blobs/uploads/"):], "/")
	already := u.received(session)
	if r.ContentLength > 0 && already+r.ContentLength > u.max {
		tooLarge(w, u.max)
		return
	}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		if _, end, ok := strings.Cut(cr, "-"); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(end), 10, 64); err == nil && n >= u.max {
				tooLarge(w, u.max)
				return
			}
		}
	}
	body := &limitedBody{r: r.Body, left: u.max - already, rc: http.NewResponseController(w), idle: u.idle}
	r.Body = body
	// Bounded from the start (a handler may answer without reading) and
	// after the handler (net/http drains an unread body).
	_ = body.rc.SetReadDeadline(time.Now().Add(u.idle))
	defer func() { _ = body.rc.SetReadDeadline(time.Now().Add(u.idle)) }()
	u.next.ServeHTTP(w, r)
	if session != "" {
		if r.Method == http.MethodPut {
			u.forget(session)
		} else {
			u.add(session, body.n)
		}
	}
}

func (u *uploadLimits) received(session string) int64 {
	if session == "" {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[session]
}

func (u *uploadLimits) add(session string, n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen[session] += n
	u.touch[session] = time.Now()
	// Sessions abandoned for a day are forgotten (distribution purges
	// their data on its own schedule).
	for s, t := range u.touch {
		if time.Since(t) > 24*time.Hour {
			delete(u.seen, s)
			delete(u.touch, s)
		}
	}
}

func (u *uploadLimits) forget(session string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.seen, session)
	delete(u.touch, session)
}

var errBlobTooLarge = errors.New("blob upload exceeds the registry's size limit")

// limitedBody counts what the handler reads, fails past left, and pushes
// the connection's read deadline forward before every read.
type limitedBody struct {
	r    io.ReadCloser
	left int64
	n    int64
	rc   *http.ResponseController
	idle time.Duration
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.idle > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	if b.left-b.n <= 0 {
		// One byte more tells a body that ends exactly at the limit from
		// one that goes on.
		var one [1]byte
		if n, _ := b.r.Read(one[:]); n > 0 {
			return 0, errBlobTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left-b.n {
		p = p[:b.left-b.n]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// tooLarge answers 413 in distribution's error format.
func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	fmt.Fprintf(w, `{"errors":[{"code":"SIZE_INVALID","message":"blob upload exceeds the registry's size limit of %d bytes"}]}`+"\n", max)
}

// checkAuthTransport refuses basic auth (htpasswd) served over plain HTTP
// on an address other hosts can reach: every push and pull would carry a
// password in clear. Loopback and unix sockets are fine.
func checkAuthTransport(cfg *configuration.Configuration) error {
	if _, ok := cfg.Auth["htpasswd"]; !ok {
		return nil
	}
	if cfg.HTTP.TLS.Certificate != "" || cfg.HTTP.TLS.LetsEncrypt.CacheFile != "" || cfg.HTTP.Net == "unix" {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil {
		host = cfg.HTTP.Addr
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve htpasswd authentication over plain HTTP on %s: passwords would cross the network in clear; give --tls-cert and --tls-key, or listen on a loopback address", cfg.HTTP.Addr)
}
