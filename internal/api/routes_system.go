package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/events"
)

func (s *Server) registerSystem(rt *router) {
	s.registerPing(rt)
	rt.get("/version", s.version)
	rt.get("/info", s.info)
	rt.get("/system/df", s.diskUsage)
	rt.get("/events", s.events)
}

// registerPing adds /_ping, which every server (berthd's and the swarm
// front end's) answers.
func (s *Server) registerPing(rt *router) {
	rt.get("/_ping", s.ping)
	rt.head("/_ping", s.ping)
}

// ping is what every CLI invocation sends first; it reads Api-Version from
// the headers to pick the version for the following requests.
func (s *Server) ping(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", pingSwarmHeader(s.swarmInfo(ctx)))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *Server) version(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	return writeJSON(w, http.StatusOK, s.be.System.Version(ctx))
}

func (s *Server) info(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	info, err := s.be.System.Info(ctx)
	if err != nil {
		return err
	}
	if s.be.Swarm != nil || s.swarmProc != nil {
		info.Swarm = s.swarmInfo(ctx)
	}
	out, err := adaptInfo(ctx, info)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// cgroup2 tells whether the host runs cgroup v2 only; asked once.
func (s *Server) cgroup2(ctx context.Context) bool {
	s.cgroupOnce.Do(func() {
		if info, err := s.be.System.Info(ctx); err == nil {
			s.cgroupV2 = info.CgroupVersion == "2"
		}
	})
	return s.cgroupV2
}

func (s *Server) diskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	du, err := s.be.System.DiskUsage(ctx)
	if err != nil {
		return err
	}
	out, err := adaptDiskUsage(ctx, du, r.URL.Query()["type"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// events streams newline-delimited JSON: the stored events in the window
// first, then live ones, until `until` passes or the client goes away.
func (s *Server) events(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	ctx, cancel := longPoll(ctx)
	defer cancel()
	since, err := timeValue(r, "since")
	if err != nil {
		return err
	}
	until, err := timeValue(r, "until")
	if err != nil {
		return err
	}
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	past, live, cancel, err := s.be.System.SubscribeEvents(ctx, since, until, f)
	if err != nil {
		return err
	}
	if cancel != nil {
		defer cancel()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	fl.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, m := range past {
		if !wantEvent(ctx, m) {
			continue
		}
		if err := enc.Encode(compatEvent(m)); err != nil {
			return err
		}
	}
	fl.Flush()
	if live == nil {
		return nil
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	return streamEvents(ctx, enc, fl, live, deadline)
}

func streamEvents(ctx context.Context, enc *json.Encoder, fl *http.ResponseController, live <-chan events.Message, deadline <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case m, ok := <-live:
			if !ok {
				return nil
			}
			if !wantEvent(ctx, m) {
				continue
			}
			if err := enc.Encode(compatEvent(m)); err != nil {
				return err
			}
			fl.Flush()
		}
	}
}

// eventJSON adds the fields API 1.52 dropped from events. Every version we
// serve is older, and docker-compose 1.29 reads event["status"] and
// event["id"]; dockerd sent them first, in this order.
type eventJSON struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func compatEvent(m events.Message) eventJSON {
	e := eventJSON{Message: m}
	switch m.Type {
	case events.ContainerEventType:
		e.Status, e.ID, e.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
	case events.ImageEventType:
		e.Status, e.ID = string(m.Action), m.Actor.ID
	}
	return e
}
