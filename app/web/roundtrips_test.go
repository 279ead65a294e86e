package web

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// countHook counts requests to Redis: one per command, one per pipeline.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error { h.n.Add(1); return next(ctx, c) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, c []redis.Cmder) error { h.n.Add(1); return next(ctx, c) }
}

// TestRoundTripsPerPage: a page costs the same small number of Redis round
// trips whether its timeline holds 60 tweets or 1,200, and on any page.
func TestRoundTripsPerPage(t *testing.T) {
	s := newSite(t)
	hook := &countHook{}
	s.rdb.AddHook(hook)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signUp("bob", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	b.post("/tweets/follow/bob", nil)
	ctx := t.Context()
	post := func(user string, n int) {
		for i := range n {
			if _, err := s.store.Post(ctx, user, fmt.Sprintf("tweet %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cost := func(path string) int64 {
		b.get(path) // loads the scripts into Redis (EVALSHA then hits)
		before := hook.n.Load()
		b.get(path).want(t, 200)
		return hook.n.Load() - before
	}
	pages := []struct {
		path string
		want int64
	}{
		{"/tweets/general_timeline", 2}, // the signed-in viewer, the page
		{"/tweets/general_timeline?page=3", 2},
		{"/tweets/user_timeline", 2},
		{"/tweets/user_timeline?page=10", 2},
		{"/tweets/user_history/bob", 2},
		{"/tweets/user_history/bob?page=5", 2},
	}
	for _, size := range []int{30, 600} {
		post("1", size)
		post("2", size)
		for _, p := range pages {
			if got := cost(p.path); got != p.want {
				t.Errorf("%d tweets each: %s cost %d round trips; want %d", size, p.path, got, p.want)
			}
		}
	}
	anon := s.browser()
	anon.get("/tweets/general_timeline")
	before := hook.n.Load()
	anon.get("/tweets/general_timeline?page=2").want(t, 200)
	if got := hook.n.Load() - before; got != 1 {
		t.Errorf("anonymous general timeline cost %d round trips; want 1", got)
	}
}
