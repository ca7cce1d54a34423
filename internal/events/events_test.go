package events

import (
	"testing"
	"time"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/events"
)

func msg(typ events.Type, action events.Action, id, name string) events.Message {
	return events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: map[string]string{"name": name, "image": "busybox", "app": "x"}}}
}

func TestMatch(t *testing.T) {
	m := msg(events.ContainerEventType, events.ActionStart, "abcdef", "web")
	for _, tc := range []struct {
		f    filters.Args
		want bool
	}{
		{nil, true},
		{filters.Args{"container": {"web": true}}, true},
		{filters.Args{"container": {"abc": true}}, true},
		{filters.Args{"container": {"db": true}}, false},
		{filters.Args{"event": {"start": true}}, true},
		{filters.Args{"event": {"die": true}}, false},
		{filters.Args{"type": {"image": true}}, false},
		{filters.Args{"label": {"app=x": true}}, true},
		{filters.Args{"label": {"app=y": true}}, false},
		{filters.Args{"image": {"busybox": true}}, true},
	} {
		if got := Match(m, tc.f); got != tc.want {
			t.Errorf("filter %v: got %v want %v", tc.f, got, tc.want)
		}
	}
	exec := msg(events.ContainerEventType, "exec_start: sh -c true", "abcdef", "web")
	if !Match(exec, filters.Args{"event": {"exec_start": true}}) {
		t.Error("exec_start prefix must match")
	}
}

func TestSubscribeHistoryAndLive(t *testing.T) {
	b := New()
	start := time.Now().Add(-time.Second)
	b.Publish(msg(events.ContainerEventType, events.ActionCreate, "a", "one"))
	past, live, cancel := b.Subscribe(start, time.Time{}, filters.Args{"event": {"start": true, "create": true}})
	defer cancel()
	if len(past) != 1 || past[0].Action != events.ActionCreate {
		t.Fatalf("past = %+v", past)
	}
	b.Publish(msg(events.ContainerEventType, events.ActionDie, "a", "one"))
	b.Publish(msg(events.ContainerEventType, events.ActionStart, "a", "one"))
	select {
	case m := <-live:
		if m.Action != events.ActionStart || m.TimeNano == 0 || m.Scope != "local" {
			t.Fatalf("live = %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("no live event")
	}
	// until in the past: no live channel.
	_, live2, cancel2 := b.Subscribe(start, time.Now().Add(-time.Millisecond), nil)
	defer cancel2()
	if live2 != nil {
		t.Fatal("expected no live channel")
	}
}
