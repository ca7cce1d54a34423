package daemon

import (
	"strings"

	"github.com/berth-project/berth/internal/runtime"
	"github.com/moby/moby/api/types/events"
	digest "github.com/opencontainers/go-digest"
)

// What the other backends ask of the container backend beyond the
// contract (wired in cmd/berthd): which images containers use, container
// counts and the OCI runtimes, for the image, build and system backends.

// ImageUse counts containers per image ID.
func (d *Daemon) ImageUse() map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	for _, c := range d.containers.list() {
		out[digest.Digest(c.ImageID)]++
	}
	return out
}

// ImageUser reports a container using the image, preferring a running one.
func (d *Daemon) ImageUser(id digest.Digest) (string, bool) {
	found := ""
	for _, c := range d.containers.list() {
		if c.ImageID != id.String() {
			continue
		}
		c.mu.Lock()
		run := c.running()
		c.mu.Unlock()
		if run {
			return c.ID, true
		}
		found = c.ID
	}
	return found, false
}

// ContainerCounts counts the containers by state, for /info.
func (d *Daemon) ContainerCounts() (running, paused, stopped int) {
	for _, c := range d.containers.list() {
		c.mu.Lock()
		switch {
		case c.State.Paused:
			paused++
		case c.running():
			running++
		default:
			stopped++
		}
		c.mu.Unlock()
	}
	return running, paused, stopped
}

// Runtimes returns the default OCI runtime and every configured one.
func (d *Daemon) Runtimes() (*runtime.Runtime, map[string]*runtime.Runtime) {
	return d.runtimes[d.cfg.DefaultRuntime], d.runtimes
}

// Config is the configuration in effect, defaults filled in.
func (d *Daemon) Config() Config { return d.cfg }

// emit publishes a container event with Docker's attributes (name, image
// and the container's labels).
func (d *Daemon) emit(c *Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{"name": strings.TrimPrefix(c.Name, "/"), "image": c.Config.Image}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Publish(events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: c.ID, Attributes: attrs}})
}
