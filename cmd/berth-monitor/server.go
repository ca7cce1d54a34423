package main

import (
	"os"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/console"
	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
)

// queueLen bounds the output frames buffered for one slow client; beyond
// it frames are dropped so the container never waits for a client.
const queueLen = 256

// client is one connection that waits for the exit (Wait and Attach).
type client struct {
	conn  *os.File
	flags byte
	q     chan []byte
	done  chan struct{} // closed once exit is set
	gone  chan struct{} // closed when the client hung up
	exit  []byte
}

func (m *monitor) listen() error {
	ln, err := unixsock.Listen(m.path("monitor.sock"))
	if err != nil {
		return err
	}
	m.ln = ln
	return nil
}

func (m *monitor) serve(wg *sync.WaitGroup) {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			return
		}
		go m.handle(conn, wg)
	}
}

// handle serves one request.
func (m *monitor) handle(conn *os.File, wg *sync.WaitGroup) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, payload, err := proto.ReadFrame(conn, nil)
	if err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch typ {
	case proto.Start:
		reply(conn, m.start())
	case proto.Resize:
		reply(conn, m.resize(payload))
	case proto.ReopenLog:
		reply(conn, m.reopenLog())
	case proto.State:
		m.mu.Lock()
		st := proto.StateInfo{Pid: m.pid, Running: m.startedAt != 0 && !m.dead, StartedAt: m.startedAt}
		m.mu.Unlock()
		proto.WriteFrame(conn, proto.State, st.Encode())
	case proto.Wait:
		m.addClient(conn, 0, wg)
		return
	case proto.Attach:
		if len(payload) != 1 {
			proto.WriteFrame(conn, proto.Error, []byte("bad attach request"))
			break
		}
		m.attach(conn, payload[0], wg)
		return
	default:
		proto.WriteFrame(conn, proto.Error, []byte("unknown request"))
	}
	conn.Close()
}

func reply(conn *os.File, err error) {
	if err != nil {
		proto.WriteFrame(conn, proto.Error, []byte(err.Error()))
		return
	}
	proto.WriteFrame(conn, proto.Ok, nil)
}

func (m *monitor) resize(p []byte) error {
	if len(p) != 8 {
		return errString("bad resize request")
	}
	if m.master == nil {
		return nil // like containerd: resizing a container without a TTY is a no-op
	}
	return console.Resize(m.master, uint(proto.U32(p)), uint(proto.U32(p[4:])))
}

type errString string

func (e errString) Error() string { return string(e) }

// attach answers Ok and registers conn for output.
func (m *monitor) attach(conn *os.File, flags byte, wg *sync.WaitGroup) {
	proto.WriteFrame(conn, proto.Ok, nil)
	m.addClient(conn, flags, wg)
}

// addClient starts conn's reader and writer. A client that arrives after
// the exit gets the exit frame at once.
func (m *monitor) addClient(conn *os.File, flags byte, wg *sync.WaitGroup) {
	c := &client{conn: conn, flags: flags, done: make(chan struct{}), gone: make(chan struct{})}
	if flags&(proto.FlagStdout|proto.FlagStderr) != 0 {
		c.q = make(chan []byte, queueLen)
	}
	m.mu.Lock()
	if m.exited {
		c.exit = m.exit.Encode()
		close(c.done)
	} else {
		m.clients[c] = struct{}{}
	}
	m.mu.Unlock()
	go func() {
		m.readLoop(c)
		m.mu.Lock()
		delete(m.clients, c)
		m.mu.Unlock()
		close(c.gone)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
}

// readLoop forwards Input frames until the client goes away.
func (m *monitor) readLoop(c *client) {
	var buf []byte
	for {
		typ, p, err := proto.ReadFrame(c.conn, buf)
		if err != nil {
			return
		}
		buf = p[:0]
		if c.flags&proto.FlagStdin == 0 {
			continue
		}
		switch typ {
		case proto.Input:
			m.writeStdin(p)
		case proto.CloseStdin:
			// Docker's StdinOnce: the attaching client's end of input is
			// the container's end of input.
			if m.cfg.StdinOnce {
				m.closeStdin()
			}
		}
	}
}

func (c *client) writeLoop() {
	defer c.conn.Close()
	for {
		select {
		case f := <-c.q:
			if _, err := c.conn.Write(f); err != nil {
				return
			}
		case <-c.gone:
			return
		case <-c.done:
			c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			for len(c.q) > 0 {
				if _, err := c.conn.Write(<-c.q); err != nil {
					return
				}
			}
			proto.WriteFrame(c.conn, proto.Exit, c.exit)
			return
		}
	}
}

// broadcast queues one output chunk for every client that wants stream.
func (m *monitor) broadcast(stream byte, data []byte) {
	want := proto.FlagStdout
	if stream == proto.Stderr {
		want = proto.FlagStderr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var frame []byte
	for c := range m.clients {
		if c.flags&want == 0 || c.q == nil {
			continue
		}
		if frame == nil {
			frame = make([]byte, 6+len(data))
			frame[0] = proto.Output
			proto.PutU32(frame[1:], uint32(1+len(data)))
			frame[5] = stream
			copy(frame[6:], data)
		}
		select {
		case c.q <- frame:
		default: // slow client: drop rather than stall the container
		}
	}
}

// finish records the exit and wakes every client.
func (m *monitor) finish(e proto.ExitInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exited = true
	m.exit = e
	for c := range m.clients {
		c.exit = e.Encode()
		close(c.done)
		delete(m.clients, c)
	}
}
