package main

import (
	"os"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/console"
	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
)

// frameHeader is the size of an Output frame's header: type, length and
// stream byte.
const frameHeader = 6

// client is one connection that waits for the exit (Wait and Attach).
// Output is written to conn by the pumps themselves (see pump), under wmu.
// While the container runs a client costs one goroutine (its reader); the
// exit is written by a goroutine started at the exit.
type client struct {
	conn   *os.File
	flags  byte
	wmu    sync.Mutex
	broken bool // a write failed: the client is gone
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

// addClient starts conn's reader. A client that arrives after the exit
// gets the exit frame at once; the others get it from finish.
func (m *monitor) addClient(conn *os.File, flags byte, wg *sync.WaitGroup) {
	c := &client{conn: conn, flags: flags}
	m.mu.Lock()
	exited := m.exited
	if !exited {
		m.clients[c] = struct{}{}
	}
	exit := m.exit
	m.mu.Unlock()
	go func() {
		m.readLoop(c)
		// Whoever takes c out of clients closes its connection: this
		// reader when the client hung up first, else finish's writer.
		m.mu.Lock()
		_, mine := m.clients[c]
		delete(m.clients, c)
		m.mu.Unlock()
		if mine {
			conn.Close()
		}
	}()
	if exited {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.writeExit(exit.Encode())
		}()
	}
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

// writeExit sends the exit and closes the connection. All output was
// written before (the pumps end before finish), so nothing is queued here.
func (c *client) writeExit(exit []byte) {
	defer c.conn.Close()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken {
		return
	}
	// The output before it may still fill the client's socket buffer; a
	// client that reads none of it in time ends with EOF instead, which
	// the daemon takes as the end of the stream as well.
	c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	proto.WriteFrame(c.conn, proto.Exit, exit)
}

// write sends one output frame, blocking until the client's socket has
// room. A client whose write fails has hung up: it is not written again.
func (c *client) write(frame []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken {
		return
	}
	if _, err := c.conn.Write(frame); err != nil {
		c.broken = true
	}
}

// broadcast writes one output frame (built in place by pump) to every
// client that wants its stream, and returns to for reuse. The clients
// are collected under the lock and written outside it, so a slow client
// never holds up a request on the monitor's socket.
func (m *monitor) broadcast(stream byte, frame []byte, to []*client) []*client {
	want := proto.FlagStdout
	if stream == proto.Stderr {
		want = proto.FlagStderr
	}
	frame[0] = proto.Output
	proto.PutU32(frame[1:], uint32(len(frame)-5))
	frame[5] = stream
	to = to[:0]
	m.mu.Lock()
	for c := range m.clients {
		if c.flags&want != 0 {
			to = append(to, c)
		}
	}
	m.mu.Unlock()
	for _, c := range to {
		c.write(frame)
	}
	clear(to) // drop the references until the next chunk
	return to
}

// finish records the exit and sends it to every client.
func (m *monitor) finish(e proto.ExitInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exited = true
	m.exit = e
	exit := e.Encode()
	for c := range m.clients {
		delete(m.clients, c)
		m.clientsWG.Add(1)
		go func() {
			defer m.clientsWG.Done()
			c.writeExit(exit)
		}()
	}
}
