package main

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/console"
	"github.com/berth-project/berth/internal/monitor/proto"
	"github.com/berth-project/berth/internal/monitor/unixsock"
)

// monitor is the state of one container's monitor process.
type monitor struct {
	cfg *proto.Config
	pid int

	// Container stdio, our ends. stdin is nil unless OpenStdin; for a TTY
	// stdin and the single output stream are both the pty master.
	stdin     io.WriteCloser
	stdinFile *os.File // stdin's fd, to unblock a stuck write at exit
	outputs   []output
	master    *os.File

	log lineWriter
	ln  *unixsock.Listener

	procs  *procs          // this process's children (see reaper.go)
	shared bool            // one of a supervisor's containers (see supervisor.go)
	cancel <-chan struct{} // closed when a supervisor's request is cancelled

	mu        sync.Mutex
	stdinMu   sync.Mutex // serialises writes from several attached clients
	clients   map[*client]struct{}
	clientsWG *sync.WaitGroup // exit writers, waited for by run
	startedAt int64
	dead      bool // init reaped (exit not yet delivered)
	exited    bool // exit recorded and delivered to clients
	exit      proto.ExitInfo
}

// output is one stream the container writes and the monitor reads.
type output struct {
	stream byte
	r      *os.File
}

func newMonitor(cfg *proto.Config, p *procs, shared bool) *monitor {
	return &monitor{cfg: cfg, clients: map[*client]struct{}{}, procs: p, shared: shared}
}

// create sets up stdio, runs `runtime create` and opens the log. On error
// nothing of the container is left: runtime state is deleted, fds closed.
func (m *monitor) create() (err error) {
	var closers []io.Closer
	defer func() {
		if err != nil {
			for _, c := range closers {
				c.Close()
			}
			m.runtimeDelete()
			if m.pid > 0 {
				m.procs.disown(m.pid) // killed by the delete: a stray now
			}
		}
	}()
	m.truncateLog()
	if m.cfg.Tty {
		err = m.createTty(&closers)
	} else {
		err = m.createPipes(&closers)
	}
	if err != nil {
		return err
	}
	if m.cfg.LogPath != "" {
		m.log, err = newLogWriter(m.cfg.LogPath, m.cfg.LogFormat, m.cfg.LogMaxSize, m.cfg.LogMaxFiles)
		if err != nil {
			return errors.New("monitor: open log: " + err.Error())
		}
	}
	return nil
}

// createPipes runs create with pipes for stdout, stderr and (OpenStdin)
// stdin. The child ends are closed once the runtime has handed them on.
func (m *monitor) createPipes(closers *[]io.Closer) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	*closers = append(*closers, outR, errR)
	defer outW.Close()
	defer errW.Close()
	var inR *os.File
	if m.cfg.OpenStdin {
		var inW *os.File
		if inR, inW, err = os.Pipe(); err != nil {
			return err
		}
		defer inR.Close()
		*closers = append(*closers, inW)
		m.stdin, m.stdinFile = inW, inW
	}
	m.pid, err = m.runtimeCreate(inR, outW, errW, "")
	if err != nil {
		return err
	}
	m.outputs = []output{{proto.Stdout, outR}, {proto.Stderr, errR}}
	return nil
}

// createTty runs create with a console socket and keeps the pty master the
// runtime sends back.
func (m *monitor) createTty(closers *[]io.Closer) error {
	sock, err := console.NewSocket(m.path("console.sock"))
	if err != nil {
		return err
	}
	defer sock.Close()
	type recv struct {
		f   *os.File
		err error
	}
	got := make(chan recv, 1)
	go func() {
		f, err := sock.ReceiveMaster()
		got <- recv{f, err}
	}()
	m.pid, err = m.runtimeCreate(nil, nil, nil, sock.Path())
	if err != nil {
		return err
	}
	var r recv
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		r.err = errors.New("monitor: runtime sent no console")
	}
	if r.err != nil {
		return r.err
	}
	*closers = append(*closers, r.f)
	m.master = r.f
	if m.cfg.ConsoleHeight > 0 && m.cfg.ConsoleWidth > 0 {
		console.Resize(r.f, m.cfg.ConsoleHeight, m.cfg.ConsoleWidth)
	}
	if m.cfg.OpenStdin {
		m.stdin, m.stdinFile = nopCloser{r.f}, r.f
	}
	m.outputs = []output{{proto.Stdout, r.f}}
	return nil
}

// nopCloser keeps a client's stdin close from closing the pty master,
// which is also the output stream.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// abort undoes a successful create when the monitor cannot go on.
func (m *monitor) abort() {
	for _, o := range m.outputs {
		o.r.Close()
	}
	m.closeStdin()
	if m.log != nil {
		m.log.Close()
	}
	m.runtimeDelete()
	m.procs.disown(m.pid)
}

// start starts the created container: through the exec fifo where we
// know the runtime's protocol, else with `runtime start`.
func (m *monitor) start() error {
	m.truncateLog()
	started, err := m.startViaExecFifo()
	if err != nil {
		return err
	}
	if !started {
		if err := m.runtimeRun("start", m.cfg.ID); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.startedAt = time.Now().UnixNano()
	m.mu.Unlock()
	return nil
}

func (m *monitor) writeStdin(p []byte) {
	m.stdinMu.Lock()
	defer m.stdinMu.Unlock()
	if m.stdin != nil {
		m.stdin.Write(p)
	}
}

// unblockStdin makes a write stuck on a full stdin (a grandchild holding
// the pipe but not reading) fail, so closeStdin cannot hang the exit.
func (m *monitor) unblockStdin() {
	if m.stdinFile != nil {
		m.stdinFile.SetWriteDeadline(time.Now())
	}
}

func (m *monitor) closeStdin() {
	m.stdinMu.Lock()
	defer m.stdinMu.Unlock()
	if m.stdin != nil {
		m.stdin.Close()
		m.stdin = nil
	}
}
