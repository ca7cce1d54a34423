// Package volumes is the engine's volume backend: the volume endpoints
// over the volume store, with their filters and events. The container
// backend keeps its own use of the store (references, mounts, copy-up) and
// asks this one to make volumes on demand and to announce their events.
package volumes

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/volume"
	eventtypes "github.com/moby/moby/api/types/events"
	volumetypes "github.com/moby/moby/api/types/volume"
)

// Backend implements engine.VolumeBackend.
type Backend struct {
	store  *volume.Store
	events *events.Bus
}

var _ engine.VolumeBackend = (*Backend)(nil)

// New serves the volumes of store, announcing changes on bus.
func New(store *volume.Store, bus *events.Bus) *Backend {
	return &Backend{store: store, events: bus}
}

// apiVolume is a volume as the Engine API shows it.
func apiVolume(v *volume.Volume) *volumetypes.Volume {
	labels := v.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return &volumetypes.Volume{
		CreatedAt:  v.CreatedAt.Format(time.RFC3339),
		Driver:     v.Driver,
		Labels:     labels,
		Mountpoint: v.Mountpoint,
		Name:       v.Name,
		Options:    v.Options,
		Scope:      "local",
	}
}

// Announce publishes a volume event with the attributes dockerd gives it;
// the container backend announces mounts, unmounts and removals of
// anonymous volumes through it.
func (b *Backend) Announce(name string, action eventtypes.Action, attrs map[string]string) {
	a := map[string]string{"driver": volume.LocalDriver}
	for k, v := range attrs {
		a[k] = v
	}
	b.events.Publish(eventtypes.Message{Type: eventtypes.VolumeEventType, Action: action, Actor: eventtypes.Actor{ID: name, Attributes: a}})
}

// VolumeCreate serves POST /volumes/create.
func (b *Backend) VolumeCreate(ctx context.Context, req *volumetypes.CreateRequest) (*volumetypes.Volume, error) {
	if req == nil {
		req = &volumetypes.CreateRequest{}
	}
	v, _, err := b.GetOrCreate(ctx, req.Name, req.Driver, req.DriverOpts, req.Labels)
	if err != nil {
		return nil, err
	}
	return apiVolume(v), nil
}

// GetOrCreate returns the named volume, making it (and announcing it)
// when it does not exist yet; an empty name always makes an anonymous one.
func (b *Backend) GetOrCreate(ctx context.Context, name, driver string, opts, labels map[string]string) (*volume.Volume, bool, error) {
	return b.GetOrCreateFor(ctx, "", name, driver, opts, labels)
}

// GetOrCreateFor is GetOrCreate for the create of container owner: an
// anonymous volume it makes remembers owner (volume.Store.CreateFor).
func (b *Backend) GetOrCreateFor(ctx context.Context, owner, name, driver string, opts, labels map[string]string) (*volume.Volume, bool, error) {
	if name != "" {
		if v, err := b.store.Get(ctx, name); err == nil {
			return v, false, nil
		}
	}
	v, err := b.store.CreateFor(ctx, owner, name, driver, opts, labels)
	if err != nil {
		return nil, false, err
	}
	b.Announce(v.Name, eventtypes.ActionCreate, nil)
	return v, true, nil
}

// VolumeInspect serves GET /volumes/{name}.
func (b *Backend) VolumeInspect(ctx context.Context, name string) (*volumetypes.Volume, error) {
	v, err := b.store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return apiVolume(v), nil
}

// VolumeList serves GET /volumes.
func (b *Backend) VolumeList(ctx context.Context, f filters.Args) (*volumetypes.ListResponse, error) {
	match, err := volume.ListFilter(f)
	if err != nil {
		return nil, err
	}
	out := &volumetypes.ListResponse{Volumes: []volumetypes.Volume{}}
	for _, v := range b.store.List(ctx, match) {
		out.Volumes = append(out.Volumes, *apiVolume(v))
	}
	return out, nil
}

// VolumeRemove serves DELETE /volumes/{name}.
func (b *Backend) VolumeRemove(ctx context.Context, name string, force bool) error {
	if _, err := b.store.Get(ctx, name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := b.store.Remove(ctx, name, force); err != nil {
		return err
	}
	b.Announce(name, eventtypes.ActionDestroy, nil)
	return nil
}

// VolumesPrune serves POST /volumes/prune. The API layer adds all=true for
// clients older than 1.42, which pruned named volumes too.
func (b *Backend) VolumesPrune(ctx context.Context, f filters.Args) (*volumetypes.PruneReport, error) {
	match, err := volume.PruneFilter(f)
	if err != nil {
		return nil, err
	}
	names, space, err := b.store.Prune(ctx, match)
	for _, n := range names {
		b.Announce(n, eventtypes.ActionDestroy, nil)
	}
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	b.events.Publish(eventtypes.Message{Type: eventtypes.VolumeEventType, Action: eventtypes.ActionPrune,
		Actor: eventtypes.Actor{Attributes: map[string]string{"reclaimed": fmt.Sprint(space)}}})
	return &volumetypes.PruneReport{VolumesDeleted: names, SpaceReclaimed: space}, nil
}

// DiskUsage is /system/df's Volumes: every volume with its size and
// the number of containers using it.
func (b *Backend) DiskUsage(ctx context.Context) ([]any, error) {
	out := []any{}
	for _, v := range b.store.List(ctx, nil) {
		size, err := b.store.Size(ctx, v.Name)
		if err != nil {
			size = -1
		}
		av := apiVolume(v)
		av.UsageData = &volumetypes.UsageData{RefCount: int64(b.store.RefCount(v.Name)), Size: size}
		out = append(out, av)
	}
	return out, nil
}
