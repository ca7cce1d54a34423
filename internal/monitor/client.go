package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
)

// State is what the monitor reports about its container.
type State struct {
	Pid       int
	Running   bool
	StartedAt time.Time // zero before Start
}

// dial connects to the monitor and sends one request frame.
func (m *Monitor) dial(ctx context.Context, typ byte, payload []byte) (net.Conn, error) {
	addr, release, err := unixsock.Short(m.sock)
	if err != nil {
		return nil, fmt.Errorf("connect to monitor: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", addr)
	release()
	if err != nil {
		return nil, fmt.Errorf("connect to monitor: %w", err)
	}
	if err := proto.WriteFrame(conn, typ, payload); err != nil {
		conn.Close()
		return nil, fmt.Errorf("monitor request: %w", err)
	}
	return conn, nil
}

// call sends one request and reads one reply frame, bounded by ctx.
func (m *Monitor) call(ctx context.Context, typ byte, payload []byte) (byte, []byte, error) {
	conn, err := m.dial(ctx, typ, payload)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	rt, p, err := proto.ReadFrame(conn, nil)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, fmt.Errorf("monitor reply: %w", err)
	}
	if rt == proto.Error {
		return rt, p, errors.New(string(p))
	}
	return rt, p, nil
}

// Start runs `runtime start`; the error carries the runtime's message.
func (m *Monitor) Start(ctx context.Context) error {
	_, _, err := m.call(ctx, proto.Start, nil)
	return err
}

// Resize sets the container's terminal size.
func (m *Monitor) Resize(ctx context.Context, height, width uint) error {
	p := make([]byte, 8)
	proto.PutU32(p, uint32(height))
	proto.PutU32(p[4:], uint32(width))
	_, _, err := m.call(ctx, proto.Resize, p)
	return err
}

// ReopenLog makes the monitor close and reopen its log file (the kubelet
// renamed it for rotation).
func (m *Monitor) ReopenLog(ctx context.Context) error {
	_, _, err := m.call(ctx, proto.ReopenLog, nil)
	return err
}

// State asks the monitor for the init pid and whether it runs.
func (m *Monitor) State(ctx context.Context) (*State, error) {
	typ, p, err := m.call(ctx, proto.State, nil)
	if err != nil {
		return nil, err
	}
	si, err := proto.DecodeState(p)
	if typ != proto.State || err != nil {
		return nil, errors.New("monitor: bad state reply")
	}
	st := &State{Pid: si.Pid, Running: si.Running}
	if si.StartedAt != 0 {
		st.StartedAt = time.Unix(0, si.StartedAt)
	}
	return st, nil
}

// Wait blocks until the container has exited and returns its status. It
// may be called any number of times, before or after Start. If the monitor
// is gone, the status comes from exit.json.
func (m *Monitor) Wait(ctx context.Context) (*ExitStatus, error) {
	m.mu.Lock()
	if m.exit != nil {
		st := *m.exit
		m.mu.Unlock()
		return &st, nil
	}
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("monitor handle closed")
	}
	m.mu.Unlock()
	conn, err := m.dial(ctx, proto.Wait, nil)
	if err != nil {
		return m.exitFromFile(err)
	}
	if !m.track(conn) {
		conn.Close()
		return nil, errors.New("monitor handle closed")
	}
	defer m.untrack(conn)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	typ, p, err := proto.ReadFrame(conn, nil)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil || typ != proto.Exit {
		if err == nil {
			err = errors.New("unexpected reply")
		}
		return m.exitFromFile(fmt.Errorf("wait on monitor: %w", err))
	}
	ei, err := proto.DecodeExit(p)
	if err != nil {
		return nil, err
	}
	return m.setExit(ei), nil
}

func (m *Monitor) exitFromFile(cause error) (*ExitStatus, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, errors.New("monitor handle closed")
	}
	st, err := ReadExit(m.dir)
	if err != nil {
		return nil, fmt.Errorf("%w (and %v)", cause, err)
	}
	m.mu.Lock()
	m.exit = st
	m.mu.Unlock()
	c := *st
	return &c, nil
}

func (m *Monitor) setExit(ei proto.ExitInfo) *ExitStatus {
	st := &ExitStatus{Code: ei.Code, ExitedAt: time.Unix(0, ei.ExitedAt), OOMKilled: ei.OOMKilled}
	m.mu.Lock()
	m.exit = st
	m.mu.Unlock()
	c := *st
	return &c
}

func (m *Monitor) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	if m.conns == nil {
		m.conns = map[net.Conn]struct{}{}
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *Monitor) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
	c.Close()
}
