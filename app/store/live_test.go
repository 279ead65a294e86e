package store

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// What changes is told to open pages through the live events: a post to
// the lists it is on, and to every timeline it reached, in the request or
// step by step in its fan-out job; a like's counts; a deletion; a session
// that ends. Both with followers served by jobs and not, and on a Cluster.
func TestLiveEvents(t *testing.T) {
	for _, inline := range []int{InlineFanOut, 1} {
		t.Run(fmt.Sprintf("inline=%d", inline), func(t *testing.T) {
			s, rdb := newStore(t)
			s.inlineFanOut = inline
			testLiveEvents(t, s, rdb)
		})
	}
}

func TestLiveEventsOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	s.inlineFanOut = 1
	testLiveEvents(t, s, rdb)
}

func testLiveEvents(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	want := []string{alice}
	var bobSecret string
	for _, name := range []string{"bob", "carol", "dave"} {
		id, secret := mustRegister(t, s, name)
		if err := s.Follow(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
		if name == "bob" {
			bobSecret = secret
		}
	}
	eve, _ := mustRegister(t, s, "eve") // follows nobody
	tweet, err := s.PostAs(ctx, aliceSecret, "hello #GoLang")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	events := liveEvents(t, rdb)
	var posts int
	var reached []string
	for _, e := range events {
		switch {
		case e.Kind == live.KindPost && e.Tweet == tweet:
			posts++
			if e.AuthorID != alice || !slices.Equal(e.Tags, []string{"golang"}) || e.Parent != "" {
				t.Errorf("post event %+v", e)
			}
		case e.Kind == live.KindHome && e.Tweet == tweet:
			reached = append(reached, e.Users...)
		}
	}
	slices.Sort(reached)
	slices.Sort(want)
	if posts != 1 || !slices.Equal(reached, want) || slices.Contains(reached, eve) {
		t.Errorf("%d post events, timelines told %v; want 1, and %v", posts, reached, want)
	}

	mark := len(events)
	if err := s.Like(ctx, bobSecret, tweet, true); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTweet(ctx, aliceSecret, tweet); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, bobSecret); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range liveEvents(t, rdb)[mark:] {
		got = append(got, fmt.Sprintf("%s %s %v %v %s", e.Kind, e.Tweet, e.Counts, e.Users, e.Session))
	}
	wantEvents := []string{
		fmt.Sprintf("counts %s [0 0 1] [] ", tweet),
		fmt.Sprintf("unread  [0 0 0] [%s] ", alice), // alice is told of the like
		fmt.Sprintf("gone %s [0 0 0] [] ", tweet),
		fmt.Sprintf("unread  [0 0 0] [%s] ", alice), // and no longer, the tweet deleted
		"end  [0 0 0] [] " + live.SessionTag(bobSecret),
	}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("events after the post:\n%q\nwant\n%q", got, wantEvents)
	}
}

func liveEvents(t *testing.T, rdb redis.UniversalClient) []*live.Event {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), live.Key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	events := make([]*live.Event, len(msgs))
	for i, m := range msgs {
		events[i] = live.Parse(m)
	}
	return events
}
