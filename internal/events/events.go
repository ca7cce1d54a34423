// Package events is the daemon's event bus: components publish
// events.Message values, /events subscribers receive the ones that match
// their filters, and a bounded history serves `docker events --since`.
package events

import (
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/events"
)

// historySize bounds the replay buffer; dockerd keeps 256 events.
const historySize = 1024

// Bus fans events out to subscribers.
type Bus struct {
	mu      sync.Mutex
	history []events.Message
	subs    map[*subscriber]struct{}
}

type subscriber struct {
	f  filters.Args
	ch chan events.Message
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[*subscriber]struct{})}
}

// Publish stamps m with the current time and delivers it. A subscriber that
// cannot keep up loses events rather than stalling the daemon.
func (b *Bus) Publish(m events.Message) {
	now := time.Now()
	m.Time = now.Unix()
	m.TimeNano = now.UnixNano()
	if m.Scope == "" {
		m.Scope = "local"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.history = append(b.history, m)
	if len(b.history) > historySize {
		b.history = append(b.history[:0:0], b.history[len(b.history)-historySize:]...)
	}
	for s := range b.subs {
		if Match(m, s.f) {
			select {
			case s.ch <- m:
			default:
			}
		}
	}
}

// Subscribe returns the stored events in [since, until] matching f and, when
// until is zero or in the future, a live channel. cancel must be called.
func (b *Bus) Subscribe(since, until time.Time, f filters.Args) ([]events.Message, <-chan events.Message, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []events.Message
	if !since.IsZero() {
		for _, m := range b.history {
			t := time.Unix(0, m.TimeNano)
			if t.Before(since) || (!until.IsZero() && t.After(until)) {
				continue
			}
			if Match(m, f) {
				past = append(past, m)
			}
		}
	}
	if !until.IsZero() && !until.After(time.Now()) {
		return past, nil, func() {}
	}
	s := &subscriber{f: f, ch: make(chan events.Message, 256)}
	b.subs[s] = struct{}{}
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		})
	}
	return past, s.ch, cancel
}

// Match reports whether m passes the /events filters (type, event,
// container, image, label, scope, network, volume, daemon).
func Match(m events.Message, f filters.Args) bool {
	if len(f) == 0 {
		return true
	}
	if !anyOf(f, "type", string(m.Type)) || !anyOf(f, "event", string(m.Action)) || !anyOf(f, "scope", m.Scope) {
		return false
	}
	if vs, ok := f["event"]; ok && len(vs) > 0 {
		// "exec_start: sh" style actions match their prefix too.
		if !f["event"][string(m.Action)] && !prefixMatch(vs, string(m.Action)) {
			return false
		}
	}
	attrs := m.Actor.Attributes
	if !matchObject(f, "container", events.ContainerEventType, m, attrs["name"]) ||
		!matchObject(f, "image", events.ImageEventType, m, attrs["name"]) ||
		!matchObject(f, "network", events.NetworkEventType, m, attrs["name"]) ||
		!matchObject(f, "volume", events.VolumeEventType, m, "") {
		return false
	}
	if f["image"] != nil && m.Type == events.ContainerEventType && !f["image"][attrs["image"]] {
		return false
	}
	for l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := attrs[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

func anyOf(f filters.Args, key, v string) bool {
	vs, ok := f[key]
	if !ok || len(vs) == 0 {
		return true
	}
	if key == "event" {
		return true // checked with prefixes by the caller
	}
	return vs[v]
}

func prefixMatch(vs map[string]bool, action string) bool {
	for v := range vs {
		if strings.HasPrefix(action, v+":") {
			return true
		}
	}
	return false
}

// matchObject applies an object filter (container=..., image=...) to events
// of that type; events of other types never pass an object filter of a type
// they do not carry.
func matchObject(f filters.Args, key string, typ events.Type, m events.Message, name string) bool {
	vs, ok := f[key]
	if !ok || len(vs) == 0 {
		return true
	}
	if m.Type != typ {
		return key == "image" && m.Type == events.ContainerEventType
	}
	for v := range vs {
		if v == m.Actor.ID || (len(v) >= 1 && strings.HasPrefix(m.Actor.ID, v)) || v == name {
			return true
		}
	}
	return false
}
