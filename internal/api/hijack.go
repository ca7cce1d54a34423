package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/stdcopy"
)

const (
	rawStream         = "application/vnd.docker.raw-stream"
	multiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// streamType is the Content-Type of attach/exec/logs output: API 1.42 added
// a distinct type for the framed (non-TTY) stream.
func streamType(ctx context.Context, multiplexed bool) string {
	if multiplexed && multiplexedContentType(ctx) {
		return multiplexedStream
	}
	return rawStream
}

// hijacker turns an attach or exec-start request into a raw bidirectional
// stream. The backend validates its target first and only then calls
// getStreams, so a missing container is still an ordinary HTTP 404.
type hijacker struct {
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context

	withHeaders bool // write the response's headers too (exec start)

	mu          sync.Mutex
	conn        net.Conn
	multiplexed bool
	out         *stdcopy.Shared
}

func newHijacker(ctx context.Context, w http.ResponseWriter, r *http.Request) *hijacker {
	return &hijacker{w: w, r: r, ctx: ctx}
}

func (h *hijacker) hijacked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn != nil
}

// getStreams implements engine.StreamConfig.GetStreams.
func (h *hijacker) getStreams(multiplexed bool) (io.ReadCloser, io.Writer, io.Writer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		return nil, nil, nil, errors.New("streams already taken")
	}
	conn, brw, err := http.NewResponseController(h.w).Hijack()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("hijack connection: %w", err)
	}
	// The server may have armed deadlines for the request; a stream lives
	// as long as the container does.
	conn.SetDeadline(time.Time{})
	var head bytes.Buffer
	if h.r.Header.Get("Upgrade") != "" {
		head.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: " + streamType(h.ctx, multiplexed) + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
	} else {
		// A client that did not ask to upgrade gets a plain answer whose
		// body is the stream (dockerd's words, no Upgrade headers).
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + streamType(h.ctx, multiplexed) + "\r\n")
	}
	if h.withHeaders {
		// dockerd's exec start keeps the headers every answer carries.
		h.w.Header().WriteSubset(&head, map[string]bool{"Content-Type": true})
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("write upgrade response: %w", err)
	}
	h.conn, h.multiplexed = conn, multiplexed
	h.out = stdcopy.NewShared(conn)
	// Bytes the client sent right after the request head may already sit in
	// the server's bufio.Reader; reading through it loses none of them.
	stdin := &hijackStdin{r: brw.Reader, conn: conn}
	if !multiplexed {
		return stdin, h.out, h.out, nil
	}
	return stdin, stdcopy.NewWriter(h.out, stdcopy.Stdout), stdcopy.NewWriter(h.out, stdcopy.Stderr), nil
}

// finish reports err on the stream (the status line is long gone) and
// closes the connection.
func (h *hijacker) finish(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		if h.multiplexed {
			// A system-error frame makes docker's demuxer return the text as
			// an error instead of printing it as output.
			fmt.Fprintf(stdcopy.NewWriter(h.out, stdcopy.Systemerr), "%v", err)
		} else {
			fmt.Fprintf(h.out, "%v\r\n", err)
		}
	}
	h.conn.Close()
}

// writeStdout writes text on the stdout stream: a stdout frame when the
// stream is multiplexed.
func (h *hijacker) writeStdout(text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		return
	}
	if h.multiplexed {
		stdcopy.NewWriter(h.out, stdcopy.Stdout).Write([]byte(text))
		return
	}
	io.WriteString(h.out, text)
}

// hijackStdin is the client's half of the stream. EOF means the client did
// CloseWrite (or went away); output keeps flowing. Close only stops reading.
type hijackStdin struct {
	r    *bufio.Reader
	conn net.Conn
}

func (s *hijackStdin) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *hijackStdin) Close() error {
	if cr, ok := s.conn.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return nil
}
