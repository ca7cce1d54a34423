package distribution

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// reporter writes Docker JSON progress messages; layers report from
// several goroutines, so writes are serialized.
type reporter struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *reporter) send(m jsonstream.Message) {
	if r == nil || r.w == nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Write(append(b, '\r', '\n'))
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *reporter) status(s string) { r.send(jsonstream.Message{Status: s}) }

// layer sends a per-layer status with an empty progressDetail, as Docker does.
func (r *reporter) layer(id, s string) {
	r.send(jsonstream.Message{Status: s, ID: id, Progress: &jsonstream.Progress{}})
}

func (r *reporter) bytes(id, s string, cur, total int64) {
	r.send(jsonstream.Message{Status: s, ID: id, Progress: &jsonstream.Progress{Current: cur, Total: total}})
}

// progressReader reports "Downloading" as bytes flow, at most every 100ms.
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
