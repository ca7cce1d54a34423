package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
)

// Attachment is one client's connection to the container's streams.
// Output arrives through ReadFrame or CopyOutput; input goes to Stdin.
type Attachment struct {
	// Stdin forwards to the container (nil unless attached with stdin).
	// Close is a half-close: with StdinOnce the container's stdin ends.
	Stdin io.WriteCloser

	m      *Monitor
	conn   net.Conn
	wmu    sync.Mutex
	buf    []byte
	once   sync.Once
	closed chan struct{}
}

// Stream ids returned by ReadFrame.
const (
	Stdout = 1
	Stderr = 2
)

// Attach connects to the container's output (and input when stdin). It
// may be called before Start: nothing written after Start is missed.
func (m *Monitor) Attach(ctx context.Context, stdin, stdout, stderr bool) (*Attachment, error) {
	var flags byte
	if stdin {
		flags |= proto.FlagStdin
	}
	if stdout {
		flags |= proto.FlagStdout
	}
	if stderr {
		flags |= proto.FlagStderr
	}
	conn, err := m.dial(ctx, proto.Attach, []byte{flags})
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	typ, p, err := proto.ReadFrame(conn, nil)
	if !stop() {
		// ctx ended (a deadline may now be set on conn): give up.
		conn.Close()
		return nil, ctx.Err()
	}
	if err != nil || typ != proto.Ok {
		conn.Close()
		if err == nil {
			err = errors.New(string(p))
		}
		return nil, fmt.Errorf("attach: %w", err)
	}
	a := &Attachment{m: m, conn: conn, closed: make(chan struct{})}
	if stdin {
		a.Stdin = stdinWriter{a}
	}
	return a, nil
}

// ReadFrame returns the next output chunk and its stream (Stdout or
// Stderr). At the container's exit it returns io.EOF; the exit status is
// then available from Monitor.Wait. The slice is valid until the next call.
func (a *Attachment) ReadFrame() (stream int, data []byte, err error) {
	for {
		typ, p, err := proto.ReadFrame(a.conn, a.buf)
		if err != nil {
			select {
			case <-a.closed:
				return 0, nil, io.EOF
			default:
			}
			if err == io.EOF {
				// The monitor ended after writing all output but before
				// the exit frame reached a slow reader: the output is
				// complete, the exit status comes from Wait.
				return 0, nil, io.EOF
			}
			return 0, nil, fmt.Errorf("attach: %w", err)
		}
		a.buf = p[:0]
		switch typ {
		case proto.Output:
			if len(p) > 0 {
				return int(p[0]), p[1:], nil
			}
		case proto.Exit:
			if ei, err := proto.DecodeExit(p); err == nil {
				a.m.setExit(ei)
			}
			return 0, nil, io.EOF
		}
	}
}

// CopyOutput writes stdout and stderr chunks to the given writers until
// the container exits (nil) or the attachment is closed (nil).
func (a *Attachment) CopyOutput(stdout, stderr io.Writer) error {
	for {
		stream, data, err := a.ReadFrame()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w := stdout
		if stream == Stderr {
			w = stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
}

// Close drops the attachment; the container is not affected.
func (a *Attachment) Close() error {
	a.once.Do(func() { close(a.closed) })
	return a.conn.Close()
}

type stdinWriter struct{ a *Attachment }

// chunk keeps Input frames well under proto.MaxPayload.
const chunk = 32 << 10

func (w stdinWriter) Write(p []byte) (int, error) {
	w.a.wmu.Lock()
	defer w.a.wmu.Unlock()
	n := 0
	for len(p) > 0 {
		c := p
		if len(c) > chunk {
			c = c[:chunk]
		}
		if err := proto.WriteFrame(w.a.conn, proto.Input, c); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

func (w stdinWriter) Close() error {
	w.a.wmu.Lock()
	defer w.a.wmu.Unlock()
	return proto.WriteFrame(w.a.conn, proto.CloseStdin, nil)
}
