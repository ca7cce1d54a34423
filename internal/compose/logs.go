package compose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
)

// LogOptions are `compose logs`'s options.
type LogOptions struct {
	Services   []string
	Follow     bool
	Tail       string
	Since      string
	Timestamps bool
	NoColor    bool
	NoPrefix   bool
}

// colours are docker compose's prefix colours, in its order.
var colours = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// printer serialises prefixed lines from many containers onto one writer.
type printer struct {
	mu      sync.Mutex
	out     io.Writer
	width   int
	noColor bool
	noPfx   bool
	next    int
	colour  map[string]string
}

func newPrinter(out io.Writer, names []string, noColor, noPrefix bool) *printer {
	p := &printer{out: out, noColor: noColor, noPfx: noPrefix, colour: map[string]string{}}
	for _, n := range names {
		p.width = max(p.width, len(n))
	}
	return p
}

func (p *printer) prefix(nm string) string {
	if p.noPfx {
		return ""
	}
	pad := nm + strings.Repeat(" ", max(0, p.width-len(nm))) + "  | "
	if p.noColor {
		return pad
	}
	c, ok := p.colour[nm]
	if !ok {
		c = colours[p.next%len(colours)]
		p.next++
		p.colour[nm] = c
	}
	return "\033[" + c + "m" + pad + "\033[0m"
}

// line prints one line for container nm.
func (p *printer) line(nm, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s%s\n", p.prefix(nm), text)
}

// lineWriter splits a container's output into lines for the printer.
type lineWriter struct {
	p   *printer
	nm  string
	buf bytes.Buffer
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf.Next(i + 1))
		w.p.line(w.nm, strings.TrimRight(line, "\r\n"))
	}
}

func (w *lineWriter) flush() {
	if w.buf.Len() > 0 {
		w.p.line(w.nm, strings.TrimRight(w.buf.String(), "\r\n"))
		w.buf.Reset()
	}
}

// Logs prints the logs of the project's containers (of services, when
// given), prefixed with the container name, until they end or ctx is done.
func (s *Service) Logs(ctx context.Context, project string, out io.Writer, o LogOptions) error {
	list, err := s.e.containers(ctx, true, LabelProject+"="+project)
	if err != nil {
		return err
	}
	list = FilterServices(list, o.Services)
	var names []string
	for _, c := range list {
		names = append(names, name(c))
	}
	pr := newPrinter(out, names, o.NoColor, o.NoPrefix)
	var wg sync.WaitGroup
	errs := make([]error, len(list))
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.streamLogs(ctx, pr, c.ID, name(c), o)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// FilterServices keeps the containers of the named services (all when none).
func FilterServices(list []container.Summary, services []string) []container.Summary {
	if len(services) == 0 {
		return list
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []container.Summary
	for _, c := range list {
		if want[c.Labels[LabelService]] {
			out = append(out, c)
		}
	}
	return out
}

// streamLogs copies one container's log through the printer.
func (s *Service) streamLogs(ctx context.Context, pr *printer, id, nm string, o LogOptions) error {
	info, err := s.e.c.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	rc, err := s.e.c.ContainerLogs(ctx, id, client.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: o.Follow,
		Tail: o.Tail, Since: o.Since, Timestamps: o.Timestamps})
	if err != nil {
		return err
	}
	defer rc.Close()
	w := &lineWriter{p: pr, nm: nm}
	defer w.flush()
	if info.Config != nil && info.Config.Tty {
		_, err = io.Copy(w, rc)
	} else {
		_, err = stdcopy.StdCopy(w, w, rc)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
