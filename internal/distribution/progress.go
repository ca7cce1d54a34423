package distribution

import (
	"io"
	"time"

	"github.com/berth-project/berth/internal/jsonstream"
)

// reporter writes Docker JSON progress messages. jsonstream.Writer
// serializes writes, so layers may report from several goroutines.
type reporter struct {
	js *jsonstream.Writer
}

func newReporter(w io.Writer) *reporter {
	if w == nil {
		w = io.Discard
	}
	if js, ok := w.(*jsonstream.Writer); ok {
		return &reporter{js: js}
	}
	return &reporter{js: jsonstream.NewWriter(w)}
}

// status sends {"status":s,"id":id} (id may be empty).
func (r *reporter) status(id, s string) { r.js.Status(id, s) }

// layer sends a per-layer status with an empty progressDetail, as Docker does.
func (r *reporter) layer(id, s string) {
	r.js.WriteMessage(jsonstream.Message{Status: s, ID: id, Progress: &jsonstream.ProgressDetail{}})
}

func (r *reporter) bytes(id, s string, cur, total int64) {
	r.js.Progress(id, s, cur, total, "")
}

// progressReader reports "Downloading" as bytes flow, at most every 100ms
// and once at the end.
type progressReader struct {
	r     io.Reader
	rep   *reporter
	id    string
	total int64
	n     int64
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); n > 0 && (now.Sub(p.last) >= 100*time.Millisecond || p.n == p.total) {
		p.last = now
		p.rep.bytes(p.id, "Downloading", p.n, p.total)
	}
	return n, err
}
