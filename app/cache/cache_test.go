package cache

import "testing"

func TestBounded(t *testing.T) {
	c := New[int, string](10)
	for i := range 100 {
		c.Put(i, "v")
		if n := c.Len(); n > 10 {
			t.Fatalf("%d entries after %d puts; bound is 10", n, i+1)
		}
	}
	if _, ok := c.Get(0); ok {
		t.Error("the oldest entry is still there")
	}
	if v, ok := c.Get(99); !ok || v != "v" {
		t.Error("the newest entry is gone")
	}
	// An entry in use survives the turnover of generations.
	c.Put(1000, "kept")
	for i := range 20 {
		c.Put(2000+i, "v")
		if _, ok := c.Get(1000); !ok {
			t.Fatalf("an entry read on every put was dropped after %d puts", i+1)
		}
	}
	c.Clear()
	if c.Len() != 0 {
		t.Error("Clear left entries")
	}
}
