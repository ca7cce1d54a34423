package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/detachkeys"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

const defaultDetachKeys = detachkeys.Default

// AttachOptions say which streams of a container or exec to wire, and
// how: with a TTY the output is one raw stream, without it stdcopy frames.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	TTY                   bool
	DetachKeys            string
}

// streamResult tells how a hijacked session ended.
type streamResult struct {
	detached bool // the user typed the detach sequence
}

// pump copies stdin to the connection and the connection to stdout/stderr
// until the output ends. Stdin end half-closes the connection so the process
// sees EOF while its output keeps flowing back.
func pump(s command.Streams, conn *client.HijackedConn, o AttachOptions) (streamResult, error) {
	var res streamResult
	if o.TTY && o.Stdin && command.IsTerminal(s.In) {
		fd := int(s.In.(*os.File).Fd())
		if st, err := term.MakeRaw(fd); err == nil {
			defer term.Restore(fd, st)
		}
	}
	keys, _ := parseDetachKeys(orDefault(o.DetachKeys, defaultDetachKeys))
	var mu sync.Mutex
	if o.Stdin && s.In != nil {
		go func() {
			w := &detachWatcher{keys: keys, onDetach: func() {
				mu.Lock()
				res.detached = true
				mu.Unlock()
			}}
			_, _ = io.Copy(io.MultiWriter(conn, w), s.In)
			_ = conn.CloseWrite()
		}()
	}
	var err error
	// Without a TTY the daemon stdcopy-frames stdout and stderr.
	if o.TTY {
		_, err = io.Copy(s.Out, conn)
	} else {
		_, err = stdcopy.StdCopy(s.Out, s.Err, conn)
	}
	conn.Close()
	mu.Lock()
	defer mu.Unlock()
	if err != nil && !isClosedErr(err) {
		return res, fmt.Errorf("error reading attached stream: %w", err)
	}
	return res, nil
}

func isClosedErr(err error) bool {
	return strings.Contains(err.Error(), "use of closed network connection")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// parseDetachKeys turns "ctrl-p,ctrl-q" into bytes, as docker does.
func parseDetachKeys(s string) ([]byte, error) {
	keys, err := detachkeys.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid detach keys (%s) provided", s)
	}
	return keys, nil
}

// detachWatcher spots the detach sequence in what the user types; the
// daemon acts on it, the CLI only needs to know not to wait for an exit.
type detachWatcher struct {
	keys     []byte
	seen     []byte
	onDetach func()
}

func (d *detachWatcher) Write(p []byte) (int, error) {
	if len(d.keys) == 0 {
		return len(p), nil
	}
	d.seen = append(d.seen, p...)
	if bytes.Contains(d.seen, d.keys) {
		d.onDetach()
		d.seen = nil
	}
	if n := len(d.seen); n > len(d.keys) {
		d.seen = d.seen[n-len(d.keys):]
	}
	return len(p), nil
}

// startResize sends the size of the terminal out is on at start and on
// every SIGWINCH (nothing when out is no terminal); the func stops it.
func startResize(w io.Writer, resize func(height, width uint) error) func() {
	out, ok := w.(*os.File)
	if !ok || !command.IsTerminal(out) {
		return func() {}
	}
	send := func() {
		w, h, err := term.GetSize(int(out.Fd()))
		if err != nil || w == 0 || h == 0 {
			return
		}
		_ = resize(uint(h), uint(w))
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// consoleSize is the [height, width] of the terminal w is on, or zeros.
func consoleSize(w io.Writer) [2]uint {
	if out, ok := w.(*os.File); ok && command.IsTerminal(out) {
		if w, h, err := term.GetSize(int(out.Fd())); err == nil {
			return [2]uint{uint(h), uint(w)}
		}
	}
	return [2]uint{0, 0}
}

// proxySignals forwards the signals the CLI receives to the container.
func proxySignals(ctx context.Context, c *client.Client, id string) func() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				sig, ok := s.(unix.Signal)
				if !ok || sig == unix.SIGCHLD || sig == unix.SIGPIPE || sig == unix.SIGWINCH || sig == unix.SIGURG {
					continue
				}
				name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
				_ = c.ContainerKill(ctx, id, name)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// hijackAttach opens POST /containers/{id}/attach as a raw stream.
func hijackAttach(ctx context.Context, c *client.Client, id string, o AttachOptions) (*client.HijackedConn, error) {
	return c.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, DetachKeys: o.DetachKeys})
}
