package slots

import (
	"context"
	"errors"
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
