package daemon

import (
	"context"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/logs"
)

// ContainerLogs reads the container's json-file log.
func (d *Daemon) ContainerLogs(ctx context.Context, name string, opts engine.LogsOptions) (<-chan engine.LogMessage, bool, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, false, err
	}
	if !opts.Stdout && !opts.Stderr {
		return nil, false, errdefs.Invalidf("You must choose at least one stream")
	}
	tail := -1
	if t := strings.TrimSpace(opts.Tail); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, false, errdefs.Invalidf("invalid tail value %q", t)
		}
		if n >= 0 {
			tail = n
		}
	}
	c.mu.Lock()
	path, tty, run, exitCh, cri := c.LogPath, c.Config.Tty, c.running(), c.exitCh, c.Pod != nil
	c.mu.Unlock()
	if path == "" {
		return nil, false, errdefs.NotImplemented(errNoLogReader)
	}
	rctx, cancel := context.WithCancel(ctx)
	follow := opts.Follow && run
	// The monitor closes the log before the exit is reported: a follower
	// reads on to the end at its own pace once exitCh is closed.
	entries, _ := logs.Read(rctx, path, logs.ReadOptions{Tail: tail, Since: opts.Since, Until: opts.Until,
		Follow: follow, Final: exitCh, CRI: cri})
	out := make(chan engine.LogMessage, 64)
	go func() {
		defer cancel()
		defer close(out)
		for e := range entries {
			if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
				continue
			}
			select {
			case out <- engine.LogMessage{Stream: e.Stream, Line: e.Line, Time: e.Time}:
			case <-rctx.Done():
				return
			}
		}
	}()
	return out, tty, nil
}

type logErr string

func (e logErr) Error() string { return string(e) }

const errNoLogReader = logErr(`configured logging driver does not support reading`)
