// Package slots bounds how many of one kind of costly work run at once. The
// rest wait in line, parked, in the order they came, and give up after a
// bounded wait, so that an overload ends in a clear "busy" answer rather
// than in a wait that outlasts the server's write timeout.
package slots

import (
	"context"
	"fmt"
	"time"
)

// Slots are n places for work to run in.
type Slots struct {
	c    chan struct{}
	busy error
	// Wait bounds how long Acquire waits for a slot; tests shorten it.
	Wait time.Duration
}

// New returns n slots (at least one) whose Acquire gives up after wait with
// an error that wraps busy.
func New(n int, wait time.Duration, busy error) *Slots {
	return &Slots{c: make(chan struct{}, max(1, n)), busy: busy, Wait: wait}
}

// Acquire takes a slot once one is free. It gives up when ctx ends (the
// client went away), returning ctx's error, or after s.Wait with the busy
// error.
func (s *Slots) Acquire(ctx context.Context) error {
	select {
	case s.c <- struct{}{}:
		return nil // the common case, without a timer
	default:
	}
	wait := time.NewTimer(s.Wait)
	defer wait.Stop()
	select {
	case s.c <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-wait.C:
		return fmt.Errorf("waited %v for a slot: %w", s.Wait, s.busy)
	}
}

// Release gives back a slot that Acquire took.
func (s *Slots) Release() { <-s.c }

// Cap is how many slots there are.
func (s *Slots) Cap() int { return cap(s.c) }

// Taken is how many slots are taken now.
func (s *Slots) Taken() int { return len(s.c) }
