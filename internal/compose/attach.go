package compose

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
)

// AttachOptions steer `compose up` in attached mode.
type AttachOptions struct {
	NoColor bool
	// Abort stops everything when the first container exits
	// (--abort-on-container-exit); ExitCodeFrom implies it.
	Abort        bool
	ExitCodeFrom string
	Since        string // only log lines from this time (the up's start)
}

// exit is one container's end, as Attach learns it.
type exit struct {
	name, service string
	code          int
}

// Attach streams the containers' output, colour-prefixed, until they have
// all exited (or, with Abort, until the first one has), and returns the
// exit code `compose up` should end with.
func (s *Service) Attach(ctx context.Context, list []container.Summary, out io.Writer, o AttachOptions) (int, error) {
	var names []string
	for _, c := range list {
		names = append(names, name(c))
	}
	pr := newPrinter(out, names, o.NoColor, false)
	fmt.Fprintf(out, "Attaching to %s\n", strings.Join(names, ", "))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exits := make(chan exit, len(list))
	var wg sync.WaitGroup
	for _, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := s.follow(ctx, pr, c, o.Since)
			if err == nil {
				exits <- exit{name: name(c), service: c.Labels[LabelService], code: code}
			}
		}()
	}
	go func() { wg.Wait(); close(exits) }()
	result := 0
	abort := o.Abort || o.ExitCodeFrom != ""
	for e := range exits {
		pr.mu.Lock()
		fmt.Fprintf(out, "%s exited with code %d\n", e.name, e.code)
		pr.mu.Unlock()
		if o.ExitCodeFrom != "" {
			if e.service == o.ExitCodeFrom {
				result = e.code
			} else if result == 0 {
				continue
			}
		} else if abort && result == 0 {
			result = e.code
		}
		if abort {
			cancel()
			break
		}
	}
	return result, ctx.Err()
}

// follow streams c's log until the container stops and returns its exit
// code. A container the engine restarts is followed again.
func (s *Service) follow(ctx context.Context, pr *printer, c container.Summary, since string) (int, error) {
	for {
		if err := s.streamLogs(ctx, pr, c.ID, name(c), LogOptions{Follow: true, Since: since}); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		info, err := s.e.c.ContainerInspect(ctx, c.ID)
		if err != nil {
			return 0, err
		}
		if info.State.Running && !info.State.Restarting {
			// The stream ended while the container runs (engine restart):
			// follow on from now.
			since = strconv.FormatInt(time.Now().Unix(), 10)
			continue
		}
		if info.State.Restarting {
			since = strconv.FormatInt(time.Now().Unix(), 10)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		return info.State.ExitCode, nil
	}
}
