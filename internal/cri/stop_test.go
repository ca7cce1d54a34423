package cri

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
)

// racingEngine answers ContainerStop as the daemon does when the runtime's
// kill finds no process because the container ended on its own a moment
// earlier, and ContainerInspect with the container running until its exit
// is recorded after runningFor inspections (or never, when negative).
type racingEngine struct {
	Engine     // only the two methods below are called
	runningFor int32
	inspects   atomic.Int32
	gone       bool
}

func (e *racingEngine) ContainerStop(context.Context, string, string, *int) error {
	return errors.New("cannot kill container c1: open pidfd: No such process")
}

func (e *racingEngine) ContainerInspect(_ context.Context, id string, _ bool) (*container.InspectResponse, error) {
	n := e.inspects.Add(1)
	if e.gone && n > e.runningFor {
		return nil, errdefs.NotFound(errors.New("no such container: " + id))
	}
	running := e.runningFor < 0 || n <= e.runningFor
	return &container.InspectResponse{ID: id, State: &container.State{Running: running}}, nil
}

func TestStopContainerLosesRaceWithExit(t *testing.T) {
	defer func(d time.Duration) { exitWait = d }(exitWait)
	exitWait = 500 * time.Millisecond
	ctx := context.Background()

	// The exit is recorded after a few looks: the stop succeeds.
	e := &racingEngine{runningFor: 3}
	if err := (&Server{eng: e}).stopContainer(ctx, "c1", 0); err != nil {
		t.Fatalf("stop that raced the exit: %v", err)
	}
	if e.inspects.Load() != 4 {
		t.Errorf("inspected %d times, want 4 (running three times, then exited)", e.inspects.Load())
	}
	// The container is removed meanwhile: also done.
	if err := (&Server{eng: &racingEngine{runningFor: 1, gone: true}}).stopContainer(ctx, "c1", 0); err != nil {
		t.Fatalf("stop that raced a removal: %v", err)
	}
	// Still running after the wait: the kill really failed, say so.
	start := time.Now()
	err := (&Server{eng: &racingEngine{runningFor: -1}}).stopContainer(ctx, "c1", 0)
	if err == nil || err.Error() != "cannot kill container c1: open pidfd: No such process" {
		t.Fatalf("stop of a container that keeps running = %v, want the kill's error", err)
	}
	if d := time.Since(start); d < exitWait {
		t.Errorf("gave up after %s, before exitWait (%s)", d, exitWait)
	}
}
