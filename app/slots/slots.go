// Package slots bounds how many of one kind of costly work run at once. The
// rest wait in line, parked, in the order they came, and give up after a
// bounded wait, so that an overload ends in a clear "busy" answer rather
// than in a wait that outlasts the server's write timeout.
package slots

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Slots are n places for work to run in. For a while, fewer of them may be
// handed out (Narrow).
type Slots struct {
	n    int
	busy error
	// Wait bounds how long Acquire waits for a slot; tests shorten it.
	Wait time.Duration

	mu      sync.Mutex
	taken   int
	narrows []int     // the counts of the narrowings in effect
	waiters list.List // of chan struct{}, closed when its slot is given
}

// New returns n slots (at least one) whose Acquire gives up after wait with
// an error that wraps busy.
func New(n int, wait time.Duration, busy error) *Slots {
	return &Slots{n: max(1, n), busy: busy, Wait: wait}
}

// Acquire takes a slot once one is free. It gives up when ctx ends (the
// client went away), returning ctx's error, or after s.Wait with the busy
// error.
func (s *Slots) Acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.taken < s.limit() && s.waiters.Len() == 0 {
		s.taken++
		s.mu.Unlock()
		return nil // the common case, without a timer
	}
	given := make(chan struct{})
	inLine := s.waiters.PushBack(given)
	s.mu.Unlock()

	wait := time.NewTimer(s.Wait)
	defer wait.Stop()
	var err error
	select {
	case <-given:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-wait.C:
		err = fmt.Errorf("waited %v for a slot: %w", s.Wait, s.busy)
	}
	s.mu.Lock()
	select {
	case <-given:
		s.taken-- // given just as the wait ended: it goes to the next
		s.give()
	default:
		// Leaving the line frees no slot: those free were given already.
		s.waiters.Remove(inLine)
	}
	s.mu.Unlock()
	return err
}

// Release gives back a slot that Acquire took.
func (s *Slots) Release() {
	s.mu.Lock()
	s.taken--
	s.give()
	s.mu.Unlock()
}

// Narrow hands out at most n of the slots (at least one) until widen is
// called: work already in its slot goes on, and the next waits until fewer
// than n are taken. Of overlapping narrowings, the narrowest holds.
func (s *Slots) Narrow(n int) (widen func()) {
	n = max(1, n)
	s.mu.Lock()
	s.narrows = append(s.narrows, n)
	s.mu.Unlock()
	return sync.OnceFunc(func() {
		s.mu.Lock()
		if i := slices.Index(s.narrows, n); i >= 0 {
			s.narrows = slices.Delete(s.narrows, i, i+1)
		}
		s.give()
		s.mu.Unlock()
	})
}

// limit is how many slots may be taken now. s.mu is held.
func (s *Slots) limit() int {
	l := s.n
	for _, m := range s.narrows {
		l = min(l, m)
	}
	return l
}

// give hands free slots to the waiters at the head of the line. s.mu is
// held.
func (s *Slots) give() {
	for s.taken < s.limit() && s.waiters.Len() > 0 {
		close(s.waiters.Remove(s.waiters.Front()).(chan struct{}))
		s.taken++
	}
}

// Cap is how many slots there are.
func (s *Slots) Cap() int { return s.n }

// Taken is how many slots are taken now.
func (s *Slots) Taken() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}
