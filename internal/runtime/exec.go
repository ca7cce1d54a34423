package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/console"
	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecOpts describes a process to run in an existing container.
type ExecOpts struct {
	Process                     *specs.Process
	Tty                         bool
	Stdin                       io.Reader // nil = none
	Stdout, Stderr              io.Writer // nil = discard; Stderr unused with Tty
	ConsoleHeight, ConsoleWidth uint
	PidFile                     string // default <Dir>/pid
	Dir                         string // scratch dir for process.json, console socket, log
}

// Process is a running exec: the runtime stays in the foreground as our
// child and exits with the process's status.
type Process struct {
	cmd    *exec.Cmd
	pid    int
	master *os.File // tty only

	stdinW    io.Closer
	stdinOnce sync.Once

	exited   chan struct{} // closed once cmd.Wait returned
	waitErr  error
	copyDone chan struct{} // closed once the tty output is drained
}

// Exec starts the process and returns once it runs (its pid is known) or
// with the runtime's error, e.g. `unable to start container process:
// exec: "nosuch": executable file not found in $PATH`.
func (r *Runtime) Exec(ctx context.Context, id string, opts ExecOpts) (*Process, error) {
	if opts.Dir == "" || opts.Process == nil {
		return nil, errors.New("exec: Dir and Process are required")
	}
	pidFile, logPath, args, err := r.execArgs(id, opts)
	if err != nil {
		return nil, err
	}
	watch, err := watchPidFile(pidFile)
	if err != nil {
		return nil, err
	}
	defer watch.close()

	p := &Process{exited: make(chan struct{}), copyDone: make(chan struct{})}
	var sock *console.Socket
	if opts.Tty && r.isCrun() {
		// crun relays a foreground exec's terminal itself, but stops at
		// the process's exit without draining it (and copies nothing when
		// the process exited before its loop began): a quick `exec -t`
		// lost its output on a loaded machine. With a console socket we
		// hold the container's pty master and read it to the end.
		if sock, err = console.NewSocket(filepath.Join(opts.Dir, "console.sock")); err != nil {
			return nil, err
		}
		defer sock.Close()
		i := slices.Index(args, "exec")
		args = slices.Insert(args, i+1, "--console-socket", sock.Path())
	}
	p.cmd = r.command(context.Background(), args...)
	errGate := &gate{w: opts.Stderr}
	var childEnd *os.File
	if sock != nil {
		p.cmd.Stderr = errGate // the runtime's own words; the process's go to the pty
	} else if childEnd, err = p.setupStdio(opts, errGate); err != nil {
		return nil, err
	}
	var masterc chan *os.File
	if sock != nil {
		masterc = make(chan *os.File, 1)
		go func() {
			m, _ := sock.ReceiveMaster() // fails once sock is closed
			masterc <- m
		}()
	}
	err = p.cmd.Start()
	if childEnd != nil {
		childEnd.Close() // the runtime holds its own copy
	}
	if err != nil {
		p.CloseStdin()
		if p.master != nil {
			p.master.Close()
		}
		return nil, fmt.Errorf("%s exec: %w", r.Name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	pid, err := watch.wait(ctx, p.exited)
	if err != nil {
		if ctx.Err() != nil {
			p.cmd.Process.Kill()
		}
		errGate.release(false)
		p.CloseStdin()
		<-p.exited
		if p.master != nil {
			p.master.Close()
		}
		if masterc != nil {
			sock.Close()
			if m := <-masterc; m != nil {
				m.Close()
			}
		}
		if msg := execMessage(logPath); msg != "" {
			return nil, classify(msg)
		}
		return nil, fmt.Errorf("%s exec: %w", r.Name, err)
	}
	p.pid = pid
	if masterc != nil {
		// crun sends the master before the process runs. Once crun has
		// exited, a master it sent waits in the socket's queue: accept it
		// before closing the socket, which would drop it.
		select {
		case p.master = <-masterc:
		case <-p.exited:
			select {
			case p.master = <-masterc:
			case <-time.After(5 * time.Second):
				sock.Close()
				p.master = <-masterc
			}
		}
		if p.master == nil {
			p.cmd.Process.Kill()
			<-p.exited
			errGate.release(false)
			return nil, fmt.Errorf("%s exec: no terminal from the console socket", r.Name)
		}
		if opts.ConsoleHeight > 0 && opts.ConsoleWidth > 0 {
			console.Resize(p.master, opts.ConsoleHeight, opts.ConsoleWidth)
		}
		// The process and what it started hold the pty's other end: a
		// child that outlives it would keep the copy open, so the copy
		// stops a moment after the exit, once what was written is read.
		go func() {
			<-p.exited
			p.master.SetReadDeadline(time.Now().Add(2 * time.Second))
		}()
	}
	errGate.release(true)
	if p.master != nil {
		p.startTTYCopy(opts)
	} else {
		close(p.copyDone)
	}
	return p, nil
}

// execArgs writes process.json and builds the runtime's argv.
func (r *Runtime) execArgs(id string, opts ExecOpts) (pidFile, logPath string, args []string, err error) {
	proc := *opts.Process
	// With --process, runc takes the terminal setting from the file only.
	proc.Terminal = opts.Tty
	pj, err := json.Marshal(&proc)
	if err != nil {
		return "", "", nil, fmt.Errorf("exec: %w", err)
	}
	procPath := filepath.Join(opts.Dir, "process.json")
	if err := os.WriteFile(procPath, pj, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("exec: %w", err)
	}
	pidFile = opts.PidFile
	if pidFile == "" {
		pidFile = filepath.Join(opts.Dir, "pid")
	}
	os.Remove(pidFile)
	logPath = filepath.Join(opts.Dir, "log.json")
	os.Remove(logPath)
	args = []string{"--root", r.Root, "--log", logPath, "--log-format", "json",
		"exec", "--process", procPath, "--pid-file", pidFile, id}
	return pidFile, logPath, args, nil
}

// setupStdio wires the runtime's stdio. It returns our copy of the end
// the child inherits (stdin pipe or pty slave), to close after start.
func (p *Process) setupStdio(opts ExecOpts, errGate *gate) (childEnd *os.File, err error) {
	if opts.Tty {
		return p.setupTTY(opts)
	}
	p.cmd.Stdout = opts.Stdout
	if opts.Stderr != nil {
		p.cmd.Stderr = errGate
	}
	if opts.Stdin != nil {
		childEnd, p.stdinW, err = pipeFrom(opts.Stdin)
		if err != nil {
			return nil, err
		}
		p.cmd.Stdin = childEnd
	}
	return childEnd, nil
}

// setupTTY gives the runtime a pty of ours as its stdio. runc refuses a
// console socket unless it detaches, and a detached exec would no longer
// be our child to wait for. In the foreground, runc allocates the
// container's pty itself, puts our pty in raw mode and relays between the
// two, and copies our window size on start and on every SIGWINCH, which
// the kernel sends it because our pty is its controlling terminal.
func (p *Process) setupTTY(opts ExecOpts) (slave *os.File, err error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("exec tty: %w", err)
	}
	if opts.ConsoleHeight > 0 && opts.ConsoleWidth > 0 {
		if err := console.Resize(master, opts.ConsoleHeight, opts.ConsoleWidth); err != nil {
			master.Close()
			slave.Close()
			return nil, err
		}
	}
	p.master = master
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return slave, nil
}

func (p *Process) startTTYCopy(opts ExecOpts) {
	if opts.Stdin != nil {
		// A pty has no half-close: input simply stops with the master.
		go io.Copy(p.master, opts.Stdin)
	}
	out := opts.Stdout
	if out == nil {
		out = io.Discard
	}
	go func() {
		// Reading the master ends with EIO once the runtime, the only
		// holder of the slave, has exited after relaying everything.
		io.Copy(out, p.master)
		close(p.copyDone)
	}()
}

// pipeFrom feeds src into a new pipe whose read end becomes the
// runtime's stdin; the returned closer ends it (CloseStdin).
func pipeFrom(src io.Reader) (*os.File, io.Closer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("exec stdin: %w", err)
	}
	go func() {
		io.Copy(w, src)
		w.Close()
	}()
	return r, w, nil
}

// execMessage reads the runtime's error from its log. runc prefixes exec
// errors with "exec failed: ", which Docker's wording adds itself.
func execMessage(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(runtimeMessage(b), "exec failed: ")
}

// Pid is the exec'd process's host pid.
func (p *Process) Pid() int { return p.pid }

// Resize sets the pty's window size.
func (p *Process) Resize(h, w uint) error {
	if p.master == nil {
		return errors.New("exec has no tty")
	}
	return console.Resize(p.master, h, w)
}

// CloseStdin signals end of input to the process (non-tty).
func (p *Process) CloseStdin() {
	p.stdinOnce.Do(func() {
		if p.stdinW != nil {
			p.stdinW.Close()
		}
	})
}

// Wait blocks until the process has exited and its output is copied, and
// returns its exit code (128+signal when it was killed by a signal).
func (p *Process) Wait() (int, error) {
	<-p.exited
	<-p.copyDone
	if p.master != nil {
		p.master.Close()
	}
	st := p.cmd.ProcessState
	if st == nil {
		return -1, p.waitErr
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return st.ExitCode(), nil
}

// gate holds stderr until the exec is known to have started: before that
// only the runtime writes there, and its failure text must not reach the
// user's stream (it is returned as the error instead).
type gate struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	open bool
}

func (g *gate) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.buf = append(g.buf, b...)
		return len(b), nil
	}
	return g.w.Write(b)
}

func (g *gate) release(pass bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !pass || g.w == nil {
		g.w = io.Discard
	} else if len(g.buf) > 0 {
		g.w.Write(g.buf)
	}
	g.buf, g.open = nil, true
}

// isCrun reports whether the runtime is crun, run directly or through
// berth-crun.
func (r *Runtime) isCrun() bool {
	base := filepath.Base(r.Path)
	return base == "crun" || base == "berth-crun" || r.Inner != ""
}
