package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// A page's connection is kept for the next page, and what breaks it does not
// reach the next: a Redis restart while it was idle, an error reply left
// half read, a client gone mid-page.
func TestPageConnsRecover(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	t.Cleanup(s.Close)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	mustRegister(t, s, "bob")
	if _, err := s.Post(ctx, alice, "hello"); err != nil {
		t.Fatal(err)
	}
	page := func(ctx context.Context) (int, error) {
		_, p, err := s.UserTweets(ctx, "", "alice", 0, 50)
		return len(p.Tweets), err
	}
	for range 2 { // the first runs the page script, and remembers alice's id
		if n, err := page(ctx); n != 1 || err != nil {
			t.Fatalf("first pages: %d tweets, %v", n, err)
		}
	}
	if len(s.pages.idle) != 1 {
		t.Fatalf("%d idle connections after a page; want 1 kept", len(s.pages.idle))
	}

	// A wrong-type key makes the page an error and leaves the replies after
	// it unread: the connection must not serve another page.
	rdb.Set(ctx, followerKey(alice), "not a set", 0)
	if _, err := page(ctx); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("page on a wrong-type key: %v; want WRONGTYPE", err)
	}
	rdb.Del(ctx, followerKey(alice))
	if n, err := page(ctx); n != 1 || err != nil {
		t.Errorf("page after the error: %d tweets, %v", n, err)
	}

	// A client that went away mid-page: the connection is closed, not kept.
	before := len(s.pages.idle)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := page(gone); err == nil {
		t.Error("a page for a cancelled request succeeded")
	}
	if len(s.pages.idle) > before {
		t.Error("a cancelled page's connection was kept")
	}

	// Redis restarts, empty, while the connection is idle: the next page
	// finds it closed and reads on a new one, with no error shown.
	if _, _, err := s.Timeline(ctx, "", General, 0, 50); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Restart()
	if _, p, err := s.Timeline(ctx, "", General, 0, 50); len(p.Tweets) != 0 || err != nil {
		t.Errorf("page after Redis restarted: %d tweets, %v; want none and no error", len(p.Tweets), err)
	}
}

// Pages hold at most PoolSize connections; one more waits PoolTimeout and is
// then told Redis is unavailable (a 503), as go-redis's own pool does.
func TestPageConnsBounded(t *testing.T) {
	srv := redistest.Start(t)
	opt := srv.Options()
	opt.PoolSize, opt.PoolTimeout = 1, 50*time.Millisecond
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	t.Cleanup(s.Close)
	ctx := context.Background()

	c, err := s.pages.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Timeline(ctx, "", General, 0, 50)
	if !IsUnavailable(err) {
		t.Errorf("a page with every connection taken: %v; want unavailable", err)
	}
	s.pages.put(c, true)
	if _, _, err := s.Timeline(ctx, "", General, 0, 50); err != nil {
		t.Errorf("a page once the connection is back: %v", err)
	}
}
