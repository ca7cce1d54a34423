package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HijackedConn is a raw stream to the daemon after a 101 upgrade. Reads go
// through the buffered reader so bytes that arrived with the headers are kept.
type HijackedConn struct {
	net.Conn
	Reader *bufio.Reader
	// Multiplexed is true when the daemon said the stream is stdcopy-framed.
	Multiplexed bool
}

func (h *HijackedConn) Read(p []byte) (int, error) { return h.Reader.Read(p) }

// CloseWrite half-closes the connection so the daemon sees stdin end while
// output keeps flowing back.
func (h *HijackedConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Hijack sends r with Connection: Upgrade / Upgrade: tcp and hands back the
// raw connection once the daemon answers 101 (or 200, which old daemons send).
func (c *Client) Hijack(ctx context.Context, r Request) (*HijackedConn, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	conn, err := c.dial(ctx, "", "")
	if err != nil {
		return nil, c.connErr(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(30 * time.Second)
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write %s: %w", r.Path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read %s answer: %w", r.Path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer conn.Close()
		return nil, decodeError(resp)
	}
	mux := resp.Header.Get("Content-Type") == "application/vnd.docker.multiplexed-stream"
	return &HijackedConn{Conn: conn, Reader: br, Multiplexed: mux}, nil
}

// Drain reads and discards a body; used where only the status matters.
func Drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, r)
	_ = r.Close()
}
