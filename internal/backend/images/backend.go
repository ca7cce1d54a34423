// Package images is the engine's image backend: the image endpoints over
// the image store and the registries (list, inspect, tag, delete, import,
// load, save, prune, pull, push, search, distribution inspect) and registry
// login, with their events. The container backend keeps its own use of the
// store (an image's config at create, commit) and tells this one which
// images its containers use.
package images

import (
	"path"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/events"
	imagestore "github.com/berth-project/berth/internal/image"
	eventtypes "github.com/moby/moby/api/types/events"
	digest "github.com/opencontainers/go-digest"
)

// Containers is what the image backend asks of the container backend.
type Containers interface {
	// ImageUse counts containers per image ID.
	ImageUse() map[digest.Digest]int64
	// ImageUser names a container using the image, preferring a running
	// one (then running is true).
	ImageUser(id digest.Digest) (container string, running bool)
}

// Backend implements engine.ImageBackend and engine.AuthBackend.
type Backend struct {
	images     *imagestore.Store
	registries *distribution.Registries
	events     *events.Bus
	containers Containers
}

var (
	_ engine.ImageBackend = (*Backend)(nil)
	_ engine.AuthBackend  = (*Backend)(nil)
)

// New serves the images of store and the registries regs, announcing
// changes on bus.
func New(store *imagestore.Store, regs *distribution.Registries, bus *events.Bus, containers Containers) *Backend {
	return &Backend{images: store, registries: regs, events: bus, containers: containers}
}

// Announce publishes an image event with the attributes dockerd gives it;
// the build backend announces its tags and pulls through it.
func (b *Backend) Announce(id, ref string, action eventtypes.Action) {
	attrs := map[string]string{}
	if ref != "" {
		attrs["name"] = ref
	}
	b.events.Publish(eventtypes.Message{Type: eventtypes.ImageEventType, Action: action, Actor: eventtypes.Actor{ID: id, Attributes: attrs}})
}

// imageUse counts containers per image ID.
func (b *Backend) imageUse() map[digest.Digest]int64 { return b.containers.ImageUse() }

// usedBy reports a container using the image, preferring a running one.
func (b *Backend) usedBy(id digest.Digest) (string, bool) { return b.containers.ImageUser(id) }

func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}
