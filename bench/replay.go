package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
)

// replay stands in for a daemon on a unix socket of its own: it forwards
// the first request for each method and URL to the daemon, keeps the
// answer and serves it from memory from then on. A CLI run against it
// after a warm-up pays for its own work only (start-up, decoding,
// printing), with the daemon's exact bytes and headers.
type replay struct {
	upstream *http.Client
	srv      *http.Server

	mu   sync.Mutex
	kept map[string]*keptAnswer
}

type keptAnswer struct {
	status int
	header http.Header
	body   []byte
}

// startReplay serves the replay of the daemon at daemonSock on sock.
func startReplay(daemonSock, sock string) (*replay, error) {
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	rp := &replay{kept: map[string]*keptAnswer{}, upstream: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", daemonSock)
		},
	}}}
	rp.srv = &http.Server{Handler: rp}
	go rp.srv.Serve(l)
	return rp, nil
}

func (rp *replay) Close() error { return rp.srv.Close() }

func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.RequestURI()
	rp.mu.Lock()
	a := rp.kept[key]
	rp.mu.Unlock()
	if a == nil {
		var err error
		if a, err = rp.forward(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rp.mu.Lock()
		rp.kept[key] = a
		rp.mu.Unlock()
	}
	for k, v := range a.header {
		switch k {
		case "Date", "Content-Length", "Transfer-Encoding":
			// The server writes its own, as the daemon's did.
		default:
			w.Header()[k] = v
		}
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func (rp *replay) forward(r *http.Request) (*keptAnswer, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://daemon"+r.URL.RequestURI(), r.Body)
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := rp.upstream.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &keptAnswer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}
