package live_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
	"pytwask/app/redistest"
)

// The hub hands each event to the streams that show it, and only to them;
// what a stream missed is read back from the same Redis stream; a session's
// end ends its streams. On one Redis server and on a Cluster.
func TestHub(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client()
	t.Cleanup(func() { rdb.Close() })
	testHub(t, rdb)
}

func TestHubOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := cl.Client()
	t.Cleanup(func() { rdb.Close() })
	testHub(t, rdb)
}

func testHub(t *testing.T, rdb redis.UniversalClient) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	hub := live.NewHub(rdb, log, live.Limits{})
	go hub.Run(ctx)
	pub := live.NewPublisher(rdb, log)
	// The hub reads from the newest event on: one before it starts is not
	// delivered.
	for hub.Last() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	empty := hub.Last() // a page made now says it saw everything up to here
	if empty != "0-0" {
		t.Fatalf("the hub of an empty stream starts after %q", empty)
	}

	public, _ := hub.Subscribe("a", "", "", []live.Stream{{Kind: "public"}}, nil)
	bob, _ := hub.Subscribe("b", "2", live.SessionTag("bob's secret"),
		[]live.Stream{{Kind: "home"}, {Kind: "notifications"}}, []string{"7"})
	tag, _ := hub.Subscribe("c", "", "", []live.Stream{{Kind: "tag", Arg: "go"}}, nil)
	alice, _ := hub.Subscribe("d", "1", live.SessionTag("alice's secret"),
		[]live.Stream{{Kind: "user", Arg: "alice", UserID: "1"}}, nil)

	pub.Publish(ctx, &live.Event{Kind: live.KindPost, Tweet: "10", AuthorID: "1", Tags: []string{"go"}},
		&live.Event{Kind: live.KindHome, Tweet: "10", Users: []string{"1", "3"}},
		&live.Event{Kind: live.KindHome, Tweet: "10", Users: []string{"2"}},
		&live.Event{Kind: live.KindCounts, Tweet: "7", Counts: [3]int64{1, 2, 3}},
		&live.Event{Kind: live.KindUnread, Users: []string{"2"}, Unread: 4},
		&live.Event{Kind: live.KindUnread, Users: []string{"3"}, Unread: 1})
	got := func(s *live.Sub, n int) []*live.Event {
		t.Helper()
		var out []*live.Event
		for range n {
			select {
			case e := <-s.Events():
				out = append(out, e)
			case <-time.After(5 * time.Second):
				t.Fatalf("%d of %d events", len(out), n)
			}
		}
		select {
		case e := <-s.Events():
			t.Errorf("an event too many: %+v", e)
		case <-time.After(100 * time.Millisecond):
		}
		return out
	}
	if e := got(public, 1); e[0].Kind != live.KindPost || public.Show(e[0]) != (live.Stream{Kind: "public"}) {
		t.Errorf("public: %+v", e[0])
	}
	if e := got(tag, 1); e[0].Kind != live.KindPost {
		t.Errorf("tag: %+v", e[0])
	}
	if e := got(alice, 1); e[0].Kind != live.KindPost {
		t.Errorf("alice's page: %+v", e[0])
	}
	b := got(bob, 3)
	if b[0].Kind != live.KindHome || b[1].Kind != live.KindCounts || b[2].Kind != live.KindUnread || b[2].Unread != 4 {
		t.Errorf("bob: %+v %+v %+v", b[0], b[1], b[2])
	}
	// bob's stream follows the counts of tweet 10 now that it has it.
	pub.Publish(ctx, &live.Event{Kind: live.KindCounts, Tweet: "10", Counts: [3]int64{0, 0, 1}})
	if e := got(bob, 1); e[0].Tweet != "10" {
		t.Errorf("bob, counts of the tweet he was given: %+v", e[0])
	}

	// What bob missed after the first of those events, in order.
	missed, complete, err := hub.Missed(ctx, bob, b[0].ID)
	if err != nil || !complete || len(missed) != 3 || missed[0].ID != b[1].ID || missed[1].ID != b[2].ID {
		t.Errorf("missed after %s: %d events, complete %v, %v", b[0].ID, len(missed), complete, err)
	}
	// ... and since the stream was empty: all of them.
	if all, complete, err := hub.Missed(ctx, bob, empty); err != nil || !complete || len(all) != 4 {
		t.Errorf("missed since the empty stream: %d events, complete %v, %v; want 4", len(all), complete, err)
	}
	if _, complete, _ := hub.Missed(ctx, bob, "1-0"); complete {
		t.Error("missed since 1-0, which the stream never had: complete")
	}

	// Signing bob out ends his stream, and nobody else's.
	pub.Publish(ctx, &live.Event{Kind: live.KindEnd, Session: live.SessionTag("bob's secret")})
	select {
	case <-bob.Done():
		if bob.Reason() != "session ended" {
			t.Errorf("bob's stream ended: %s", bob.Reason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bob's stream still open after his session ended")
	}
	select {
	case <-alice.Done():
		t.Error("alice's stream ended with bob's session")
	default:
	}
	hub.Close()
	<-alice.Done()
	if _, err := hub.Subscribe("e", "", "", []live.Stream{{Kind: "public"}}, nil); err != live.ErrClosed {
		t.Errorf("a stream after Close: %v", err)
	}
}
