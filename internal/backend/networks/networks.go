// Package networks is the engine's network backend: the network
// endpoints over the network manager, with their filters and events.
// Containers join and leave networks through the container backend; this
// one asks it only for a container's ID and network mode, and tells it
// when a running container's networks changed.
package networks

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/filters"
	bnet "github.com/berth-project/berth/internal/network"
	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
)

// Containers is what the network backend needs of the container backend.
type Containers interface {
	// ContainerNetworkMode resolves a container name or ID prefix to its
	// ID and HostConfig.NetworkMode; a NotFound error when there is none.
	ContainerNetworkMode(name string) (id string, mode container.NetworkMode, err error)
	// ContainerNetworkChanged follows a running container's connect
	// (added: its new addresses) or disconnect (removed: the ones it had
	// on the network) into its /etc/hosts and resolv.conf.
	ContainerNetworkChanged(ctx context.Context, id string, added, removed []netip.Addr)
}

// Backend implements engine.NetworkBackend.
type Backend struct {
	mgr        *bnet.Manager
	events     *events.Bus
	containers Containers
}

var _ engine.NetworkBackend = (*Backend)(nil)

// New serves the networks of mgr, announcing changes on bus.
func New(mgr *bnet.Manager, bus *events.Bus, containers Containers) *Backend {
	return &Backend{mgr: mgr, events: bus, containers: containers}
}

func (b *Backend) emit(id, name string, action eventtypes.Action, extra map[string]string) {
	attrs := map[string]string{"name": name, "type": "bridge"}
	for k, v := range extra {
		attrs[k] = v
	}
	b.events.Publish(eventtypes.Message{Type: eventtypes.NetworkEventType, Action: action, Actor: eventtypes.Actor{ID: id, Attributes: attrs}})
}

// NetworkCreate serves POST /networks/create.
func (b *Backend) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	switch req.Name {
	case "bridge", "host", "none", "default":
		return network.CreateResponse{}, errdefs.Forbidden(errors.New("operation is not permitted on predefined " + req.Name + " network "))
	}
	resp, err := b.mgr.Create(ctx, req)
	if err != nil {
		return resp, err
	}
	b.emit(resp.ID, req.Name, eventtypes.ActionCreate, nil)
	return resp, nil
}

// NetworkInspect serves GET /networks/{id}.
func (b *Backend) NetworkInspect(ctx context.Context, ref string) (*network.Inspect, error) {
	return b.mgr.Inspect(ref)
}

// NetworkList serves GET /networks with filters driver, id, name, label,
// label! and type (builtin/custom), like dockerd.
func (b *Backend) NetworkList(ctx context.Context, f filters.Args) ([]network.Summary, error) {
	if err := f.Validate("driver", "id", "name", "label", "label!", "type", "scope", "dangling"); err != nil {
		return nil, err
	}
	for _, t := range f.Get("type") {
		if t != "builtin" && t != "custom" {
			return nil, errdefs.Invalidf("invalid filter: 'type'='%s'", t)
		}
	}
	out := []network.Summary{}
	for _, n := range b.mgr.List() {
		if networkMatches(n, f) {
			out = append(out, network.Summary{Network: n.Network})
		}
	}
	return out, nil
}

func networkMatches(n network.Inspect, f filters.Args) bool {
	builtin := n.Name == "bridge" || n.Name == "host" || n.Name == "none"
	kind := "custom"
	if builtin {
		kind = "builtin"
	}
	if !f.ExactMatch("driver", n.Driver) || !f.FuzzyMatch("id", n.ID) || !f.Match("name", n.Name) ||
		!f.MatchKVList("label", n.Labels) || !f.ExactMatch("type", kind) || !f.ExactMatch("scope", n.Scope) {
		return false
	}
	if f.Contains("label!") {
		for _, v := range f.Get("label!") {
			k, want, hasValue := strings.Cut(v, "=")
			if got, ok := n.Labels[k]; ok && (!hasValue || got == want) {
				return false
			}
		}
	}
	if dangling, err := f.GetBoolOrDefault("dangling", false); err == nil && f.Contains("dangling") {
		if dangling != (len(n.Containers) == 0 && !builtin) {
			return false
		}
	}
	return true
}

// NetworkRemove serves DELETE /networks/{id}.
func (b *Backend) NetworkRemove(ctx context.Context, ref string) error {
	n, err := b.mgr.Inspect(ref)
	if err != nil {
		return err
	}
	if err := b.mgr.Remove(ctx, n.ID); err != nil {
		return err
	}
	b.emit(n.ID, n.Name, eventtypes.ActionDestroy, nil)
	return nil
}

// NetworksPrune serves POST /networks/prune (filters until, label, label!).
func (b *Backend) NetworksPrune(ctx context.Context, f filters.Args) (*network.PruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	until, err := f.Until()
	if err != nil {
		return nil, err
	}
	keep := func(n network.Inspect) bool {
		if !until.IsZero() && !n.Created.Before(until) {
			return false
		}
		labels := filters.Args{}
		for _, v := range f.Get("label") {
			labels.Add("label", v)
		}
		for _, v := range f.Get("label!") {
			labels.Add("label!", v)
		}
		return networkMatches(n, labels)
	}
	names, err := b.mgr.Prune(ctx, keep)
	for _, name := range names {
		b.emit("", name, eventtypes.ActionDestroy, nil)
	}
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	b.events.Publish(eventtypes.Message{Type: eventtypes.NetworkEventType, Action: eventtypes.ActionPrune, Actor: eventtypes.Actor{Attributes: map[string]string{}}})
	return &network.PruneReport{NetworksDeleted: names}, nil
}

// NetworkConnect serves POST /networks/{id}/connect.
func (b *Backend) NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error {
	id, nm, err := b.containers.ContainerNetworkMode(req.Container)
	if err != nil {
		return err
	}
	switch {
	case nm.IsHost():
		return errdefs.Forbidden(errors.New("container cannot be disconnected from host network or connected to host network"))
	case nm.IsNone():
		return errdefs.Forbidden(errors.New("container cannot be connected to multiple networks with one of the networks in private (none) mode"))
	case nm.IsContainer():
		return errdefs.Forbidden(errors.New("container sharing network namespace with another container or host cannot be connected to any other network"))
	}
	n, err := b.mgr.Inspect(ref)
	if err != nil {
		return err
	}
	if err := b.mgr.Connect(ctx, id, n.ID, req.EndpointConfig); err != nil {
		return err
	}
	b.containers.ContainerNetworkChanged(ctx, id, b.mgr.EndpointAddrs(id, n.ID), nil)
	b.emit(n.ID, n.Name, eventtypes.ActionConnect, map[string]string{"container": id})
	return nil
}

// NetworkDisconnect serves POST /networks/{id}/disconnect.
func (b *Backend) NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error {
	id, nm, err := b.containers.ContainerNetworkMode(req.Container)
	if err != nil {
		if req.Force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	n, err := b.mgr.Inspect(ref)
	if err != nil {
		return err
	}
	if nm.IsHost() || n.Name == "host" {
		return errdefs.Forbidden(errors.New("container cannot be disconnected from host network or connected to host network"))
	}
	had := b.mgr.EndpointAddrs(id, n.ID)
	if err := b.mgr.Disconnect(ctx, id, n.ID, req.Force); err != nil {
		return err
	}
	b.containers.ContainerNetworkChanged(ctx, id, nil, had)
	b.emit(n.ID, n.Name, eventtypes.ActionDisconnect, map[string]string{"container": id})
	return nil
}
