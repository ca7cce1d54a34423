package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/moby/moby/api/types/container"
)

// ContainerStats samples the container's cgroup through the runtime. A
// stopped container yields one zeroed sample, like dockerd.
func (d *Daemon) ContainerStats(ctx context.Context, name string, stream, oneShot bool, emit func(*container.StatsResponse) error) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return err
	}
	var prev *container.StatsResponse
	sample := func() (*container.StatsResponse, error) {
		if c.pid() == 0 {
			return &container.StatsResponse{ID: c.ID, Name: c.Name, Read: time.Now().UTC()}, nil
		}
		// The cgroup files directly where the host has v1 hierarchies: no
		// runtime process per sample, and the same for runc and crun.
		s, err := runtime.CgroupV1Stats(cgroups.Root, d.cgroupsPath(c))
		if errors.Is(err, runtime.ErrNoCgroupV1) {
			s, err = rt.Stats(ctx, c.ID)
		}
		if err != nil {
			return &container.StatsResponse{ID: c.ID, Name: c.Name, Read: time.Now().UTC()}, nil
		}
		r := runtime.ToStatsResponse(s, prev, c.pid(), time.Now())
		r.ID, r.Name = c.ID, c.Name
		return r, nil
	}
	if !stream && !oneShot {
		// Docker's non-stream stats carry a precpu sample one second older.
		p, err := sample()
		if err != nil {
			return err
		}
		prev = p
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s, err := sample()
		if err != nil {
			return err
		}
		if err := emit(s); err != nil || !stream {
			return err
		}
		prev = s
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}
