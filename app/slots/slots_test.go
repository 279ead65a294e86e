package slots

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlots: slots are taken at once while free; past them a wait ends with
// the busy error after Wait, with the context's error when it ends first,
// or with a slot when one is given back.
func TestSlots(t *testing.T) {
	errFull := errors.New("full")
	s := New(2, 20*time.Millisecond, errFull)
	for i := range 2 {
		if err := s.Acquire(context.Background()); err != nil {
			t.Fatalf("slot %d of 2: %v", i+1, err)
		}
	}

	start := time.Now()
	if err := s.Acquire(context.Background()); !errors.Is(err, errFull) {
		t.Errorf("a third slot: %v, want the busy error", err)
	}
	if waited := time.Since(start); waited < s.Wait {
		t.Errorf("gave up after %v, before the wait of %v", waited, s.Wait)
	}

	s.Wait = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("with the context ended: %v, want context.Canceled", err)
	}

	got := make(chan error)
	go func() { got <- s.Acquire(context.Background()) }()
	select {
	case err := <-got:
		t.Fatalf("a slot taken (%v) while every slot was", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.Release()
	if err := <-got; err != nil {
		t.Errorf("after a release: %v", err)
	}
	if s.Taken() != 2 || s.Cap() != 2 {
		t.Errorf("%d of %d slots taken, want 2 of 2", s.Taken(), s.Cap())
	}
}

func TestAtLeastOneSlot(t *testing.T) {
	if n := New(0, time.Second, errors.New("full")).Cap(); n != 1 {
		t.Errorf("New(0): %d slots, want 1", n)
	}
}

// TestWaitEndsInLine: a wait that ends leaves the line, and the slot it
// would have had goes to the next in line.
func TestWaitEndsInLine(t *testing.T) {
	s := New(1, time.Minute, errors.New("full"))
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() { first <- s.Acquire(ctx) }()
	waitFor(t, func() bool { return s.inLine() == 1 })
	second := make(chan error)
	go func() { second <- s.Acquire(context.Background()) }()
	waitFor(t, func() bool { return s.inLine() == 2 })

	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled wait: %v", err)
	}
	s.Release()
	if err := <-second; err != nil {
		t.Errorf("the next in line: %v", err)
	}
	if n, w := s.Taken(), s.inLine(); n != 1 || w != 0 {
		t.Errorf("%d taken, %d waiting; want 1 and 0", n, w)
	}
}

// TestPartiesTakeTurns: with one slot, a party with ten requests waiting
// and two parties with one each get slots in turn: the flood's first, then
// each of the others, then the rest of the flood.
func TestPartiesTakeTurns(t *testing.T) {
	s := New(1, time.Minute, errors.New("full"))
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 12)
	enqueue := func(party string) {
		n := s.inLine()
		go func() {
			if err := s.AcquireFor(context.Background(), party); err != nil {
				t.Error(err)
				return
			}
			order <- party
		}()
		waitFor(t, func() bool { return s.inLine() == n+1 })
	}
	for range 10 {
		enqueue("flood")
	}
	enqueue("alice")
	enqueue("bob")
	var got []string
	for range 12 {
		s.Release()
		got = append(got, <-order)
	}
	want := []string{"flood", "alice", "bob", "flood", "flood", "flood", "flood", "flood", "flood", "flood", "flood", "flood"}
	if !slices.Equal(got, want) {
		t.Errorf("slots went to %v; want %v", got, want)
	}
	if n := len(s.lines); n != 0 || s.turns.Len() != 0 {
		t.Errorf("%d lines kept after all were served", n)
	}
}

// waitFor polls cond until it holds, or fails the test after a few seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// inLine is how many wait in the lines.
func (s *Slots) inLine() int { return s.Waiting() }

// TestSlotsUnderChurn: with waits ending as slots are given, no more work
// runs at once than there are slots, and at the end every slot is free and
// nobody waits.
func TestSlotsUnderChurn(t *testing.T) {
	s := New(3, time.Millisecond, errors.New("full"))
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*100*time.Microsecond)
				err := s.AcquireFor(ctx, strconv.Itoa(g%4))
				cancel()
				if err != nil {
					continue
				}
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(50 * time.Microsecond)
				running.Add(-1)
				s.Release()
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m > 3 {
		t.Errorf("%d ran at once in 3 slots", m)
	}
	if n, w := s.Taken(), s.inLine(); n != 0 || w != 0 || len(s.lines) != 0 || s.turns.Len() != 0 {
		t.Errorf("%d taken, %d waiting, %d lines at the end; want none", n, w, len(s.lines))
	}
}
