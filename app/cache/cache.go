// Package cache holds Bounded, the size-bounded in-process map that pytwask
// keeps immutable or short-lived data in.
package cache

import "sync"

// Bounded is a map of at most about size entries, safe for concurrent use. It
// keeps two generations: entries go into the current one, and when that is
// full it becomes the old one and the previous old one is dropped whole. An
// entry read from the old generation is carried into the current one, so
// entries in use stay. That bounds memory as an LRU would, without tracking
// recency per entry.
type Bounded[K comparable, V any] struct {
	mu       sync.Mutex
	cur, old map[K]V
	half     int
}

// New returns an empty Bounded cache of about size entries.
func New[K comparable, V any](size int) *Bounded[K, V] {
	half := max(1, size/2)
	return &Bounded[K, V]{cur: make(map[K]V), old: make(map[K]V), half: half}
}

// Get returns the entry for k.
func (b *Bounded[K, V]) Get(k K) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.cur[k]
	if !ok {
		if v, ok = b.old[k]; ok {
			b.put(k, v)
		}
	}
	return v, ok
}

// Put sets the entry for k.
func (b *Bounded[K, V]) Put(k K, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.put(k, v)
}

func (b *Bounded[K, V]) put(k K, v V) {
	if len(b.cur) >= b.half {
		b.old, b.cur = b.cur, make(map[K]V, b.half)
	}
	b.cur[k] = v
}

// Clear drops every entry.
func (b *Bounded[K, V]) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur, b.old = make(map[K]V), make(map[K]V)
}

// Len returns how many entries are kept.
func (b *Bounded[K, V]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.cur) + len(b.old)
}
