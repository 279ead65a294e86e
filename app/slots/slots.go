// Package slots bounds how many of one kind of costly work run at once. The
// rest wait in line, parked, and give up after a bounded wait, so that an
// overload ends in a clear "busy" answer rather than in a wait that outlasts
// the server's write timeout.
//
// Waiters may name whose work it is (AcquireFor): each named party then has
// a line of its own, and the lines take turns, one slot each, so that a party
// with many requests waiting gets no more slots than one with a single
// request. golang.org/x/sync/semaphore hands out in one first-come order,
// which lets a flood from one client starve everyone behind it.
package slots

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Slots are n places for work to run in.
type Slots struct {
	n    int
	busy error
	// Wait bounds how long Acquire waits for a slot; tests shorten it.
	Wait time.Duration

	mu      sync.Mutex
	taken   int
	waiting int // in all the lines
	// turns holds a *line for each party with work waiting, in the order
	// they are served: the front one gets the next slot, then goes to the
	// back if it still has work waiting.
	turns list.List
	lines map[string]*line
}

// line is one party's waiting work, in the order it came.
type line struct {
	party   string
	waiters list.List // of chan struct{}, closed when its slot is given
	turn    *list.Element
}

// New returns n slots (at least one) whose Acquire gives up after wait with
// an error that wraps busy.
func New(n int, wait time.Duration, busy error) *Slots {
	return &Slots{n: max(1, n), busy: busy, Wait: wait, lines: map[string]*line{}}
}

// Acquire takes a slot once one is free, after the work that came before it
// (all of it in one line). It gives up when ctx ends (the client went
// away), returning ctx's error, or after s.Wait with the busy error.
func (s *Slots) Acquire(ctx context.Context) error { return s.AcquireFor(ctx, "") }

// AcquireFor is Acquire for work of party: it waits behind party's own
// earlier work, and takes turns with other parties' lines.
func (s *Slots) AcquireFor(ctx context.Context, party string) error {
	s.mu.Lock()
	if s.taken < s.limit() && s.waiting == 0 {
		s.taken++
		s.mu.Unlock()
		return nil // the common case, without a timer
	}
	given := make(chan struct{})
	l := s.lines[party]
	if l == nil {
		l = &line{party: party}
		l.turn = s.turns.PushBack(l)
		s.lines[party] = l
	}
	inLine := l.waiters.PushBack(given)
	s.waiting++
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
		l.waiters.Remove(inLine)
		s.waiting--
		if l.waiters.Len() == 0 {
			s.drop(l)
		}
	}
	s.mu.Unlock()
	return err
}

// drop forgets a line with nothing waiting. s.mu is held.
func (s *Slots) drop(l *line) {
	s.turns.Remove(l.turn)
	delete(s.lines, l.party)
}

// Release gives back a slot that Acquire took.
func (s *Slots) Release() {
	s.mu.Lock()
	s.taken--
	s.give()
	s.mu.Unlock()
}

// limit is how many slots may be taken. s.mu is held.
func (s *Slots) limit() int { return s.n }

// give hands free slots to the lines in turn, the first waiter of each.
// s.mu is held.
func (s *Slots) give() {
	for s.taken < s.limit() && s.waiting > 0 {
		l := s.turns.Front().Value.(*line)
		close(l.waiters.Remove(l.waiters.Front()).(chan struct{}))
		s.waiting--
		s.taken++
		if l.waiters.Len() == 0 {
			s.drop(l)
		} else {
			s.turns.MoveToBack(l.turn)
		}
	}
}

// Waiting is how much work waits for a slot now.
func (s *Slots) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Cap is how many slots there are.
func (s *Slots) Cap() int { return s.n }

// Taken is how many slots are taken now.
func (s *Slots) Taken() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}
