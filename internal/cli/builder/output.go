package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// buildMessage is one object of the build's JSON stream.
type buildMessage struct {
	Stream         string `json:"stream"`
	Status         string `json:"status"`
	ID             string `json:"id"`
	Progress       string `json:"progress"`
	ProgressDetail *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string          `json:"error"`
	Aux   json.RawMessage `json:"aux"`
}

// buildError is an errorDetail from the daemon: docker exits with its code
// (a failing RUN's exit status), or 1.
type buildError struct {
	Code    int
	Message string
}

func (e *buildError) Error() string { return e.Message }

// buildStreamer renders the stream. In plain mode (not a terminal, or -q)
// every message is written exactly as the daemon sent it, like docker's
// legacy builder client. In compact mode (a terminal) each step takes one
// line with its result and time; what a step prints (RUN output,
// intermediate containers) goes only to log, and is shown when that step
// fails.
type buildStreamer struct {
	out     io.Writer
	compact bool
	log     io.Writer // compact mode: the full plain output
	errOut  io.Writer // for "Failed to parse aux message"
	now     func() time.Time

	imageID string

	partial  string    // compact: text after the last newline
	step     string    // compact: header of the open step
	started  time.Time // compact: when the open step began
	stepOut  []string  // compact: what the open step printed (bounded)
	result   string    // compact: the step's resulting image id
	cached   bool
	headerOn bool // compact: the step header is on screen without its newline
}

// maxStepLines bounds what is kept of one step for display on failure; the
// log file has everything.
const maxStepLines = 200

var (
	stepHeader = regexp.MustCompile(`^Step \d+/\d+ : `)
	stepResult = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)
)

// run decodes r to the end. It returns the daemon's error as *buildError.
func (b *buildStreamer) run(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			b.flush()
			return nil
		} else if err != nil {
			b.flush()
			return err
		}
		if err := b.message(m); err != nil {
			return err
		}
	}
}

func (b *buildStreamer) message(m buildMessage) error {
	switch {
	case m.ErrorDetail != nil || m.Error != "":
		e := &buildError{Message: m.Error}
		if m.ErrorDetail != nil {
			e.Code, e.Message = m.ErrorDetail.Code, m.ErrorDetail.Message
		}
		b.fail()
		return e
	case len(m.Aux) > 0:
		var aux struct{ ID string }
		if err := json.Unmarshal(m.Aux, &aux); err != nil {
			fmt.Fprintf(b.errOut, "Failed to parse aux message: %s", err)
		} else if aux.ID != "" {
			b.imageID = aux.ID
		}
	case m.Stream != "":
		b.text(m.Stream)
	case m.ProgressDetail != nil && (m.ProgressDetail.Current > 0 || m.ProgressDetail.Total > 0):
		// A progress bar (a FROM image being pulled): docker shows none
		// outside a terminal, and a build step is not the place for one.
	case m.Status != "":
		line := m.Status + "\n"
		if m.ID != "" {
			line = m.ID + ": " + line
		}
		b.text(line)
	}
	return nil
}

// text handles printed output: as is in plain mode, line by line in compact mode.
func (b *buildStreamer) text(s string) {
	if !b.compact {
		io.WriteString(b.out, s)
		return
	}
	io.WriteString(b.log, s)
	s = b.partial + s
	lines := strings.Split(s, "\n")
	b.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		b.line(l)
	}
}

func (b *buildStreamer) line(l string) {
	switch {
	case stepHeader.MatchString(l):
		b.closeStep("")
		b.step, b.started, b.stepOut, b.result, b.cached = l, b.now(), nil, "", false
		io.WriteString(b.out, l)
		b.headerOn = true
		return
	case strings.HasPrefix(l, "Successfully built ") || strings.HasPrefix(l, "Successfully tagged "),
		strings.HasPrefix(l, "[Warning] "): // e.g. build args no ARG consumed: not step output
		b.closeStep("")
		fmt.Fprintln(b.out, l)
		return
	case b.step == "":
		fmt.Fprintln(b.out, l)
		return
	}
	if m := stepResult.FindStringSubmatch(l); m != nil {
		b.result = m[1]
	} else if l == " ---> Using cache" {
		b.cached = true
	}
	if len(b.stepOut) == maxStepLines {
		b.stepOut = append(b.stepOut[:0], b.stepOut[1:]...)
	}
	b.stepOut = append(b.stepOut, l)
}

// closeStep ends the open step's line with its result (or with suffix).
func (b *buildStreamer) closeStep(suffix string) {
	if b.step == "" || !b.headerOn {
		return
	}
	b.headerOn = false
	switch {
	case suffix != "":
	case b.cached:
		suffix = "  ---> " + b.result + " (cached)"
	case b.result != "":
		suffix = fmt.Sprintf("  ---> %s %.1fs", b.result, b.now().Sub(b.started).Seconds())
	}
	fmt.Fprintln(b.out, suffix)
}

// fail ends the open step with ERROR and shows what it printed.
func (b *buildStreamer) fail() {
	if !b.compact {
		return
	}
	if b.partial != "" {
		b.line(b.partial)
		b.partial = ""
	}
	if b.step == "" {
		return
	}
	b.closeStep("  ERROR")
	for _, l := range b.stepOut {
		fmt.Fprintln(b.out, l)
	}
}

// flush ends compact output at the end of the stream.
func (b *buildStreamer) flush() {
	if !b.compact {
		return
	}
	if b.partial != "" {
		b.line(b.partial)
		b.partial = ""
	}
	b.closeStep("")
}
