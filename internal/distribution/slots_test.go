package distribution

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"
)

func TestSlotsBoundAndReportWaiting(t *testing.T) {
	s := newSlots(2)
	var running, peak atomic.Int32
	var waiting []int
	g, ctx := errgroup.WithContext(context.Background())
	err := s.runInSlots(ctx, g, 5, func(i int) { waiting = append(waiting, i) }, func(int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		running.Add(-1)
		return nil
	})
	if err := errors.Join(err, g.Wait()); err != nil {
		t.Fatal(err)
	}
	if peak.Load() > 2 {
		t.Errorf("%d ran at once with 2 slots", peak.Load())
	}
	// The first two start at once unless they finished already; the rest wait in order.
	for k := 1; k < len(waiting); k++ {
		if waiting[k] <= waiting[k-1] {
			t.Errorf("waiting out of order: %v", waiting)
		}
	}
	if len(s) != 0 {
		t.Errorf("%d slots still held", len(s))
	}

	// A cancelled wait gives up and says so.
	s.tryAcquire()
	s.tryAcquire()
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	var g2 errgroup.Group
	if err := s.runInSlots(cctx, &g2, 1, func(int) {}, func(int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}
