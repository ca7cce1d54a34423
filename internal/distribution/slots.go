package distribution

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// slots bounds transfers daemon-wide, as dockerd's max-concurrent-downloads
// and max-concurrent-uploads do: every pull (or push) in flight shares them.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

func (s slots) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slots) release() { <-s }

// runInSlots runs fn(i) for i in [0, n) in g, each holding a slot. Items
// that cannot start at once are reported through waiting, in order, before
// any of them starts, the way dockerd shows "Waiting"; they then start in
// order as slots free up. It returns ctx's error if it gave up waiting;
// the caller still waits on g.
func (s slots) runInSlots(ctx context.Context, g *errgroup.Group, n int, waiting func(i int), fn func(i int) error) error {
	start := func(i int) {
		g.Go(func() error {
			defer s.release()
			return fn(i)
		})
	}
	var queued []int
	for i := 0; i < n; i++ {
		if s.tryAcquire() {
			start(i)
			continue
		}
		waiting(i)
		queued = append(queued, i)
	}
	for _, i := range queued {
		if err := s.acquire(ctx); err != nil {
			return err
		}
		start(i)
	}
	return nil
}
