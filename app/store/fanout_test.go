package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// wideStore is a store whose every post goes through postWide, with two
// users, alice and bob.
func wideStore(t *testing.T) (s *Store, rdb *redis.Client, alice, bob string) {
	s, rdb = newStore(t)
	s.wideFanOut = -1
	alice, _ = mustRegister(t, s, "alice")
	bob, _ = mustRegister(t, s, "bob")
	return s, rdb, alice, bob
}

// After Close, wide posts still work, each on a connection of its own that
// does not ask Redis to track.
func TestWidePostAfterClose(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	followAlice(t, s, bob)
	var ids []string
	for i := range 3 {
		if i == 1 {
			s.Close()
		}
		id, err := s.Post(ctx, alice, "hello")
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{id}, ids...)
	}
	if got := rdb.LRange(ctx, "timeline:"+bob, 0, -1).Val(); !slices.Equal(got, ids) {
		t.Errorf("bob's timeline %q; want %q", got, ids)
	}
	if n := commandStats(t, rdb)["client|tracking"].calls; n != 1 {
		t.Errorf("CLIENT TRACKING sent %d times; want once, before Close", n)
	}
}

// A wide post sends its trims and does not wait for their replies: the next
// post on the kept connection reads them first, and both posts' trims run.
func TestTrimRepliesAreReadByTheNextPost(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	carol, _ := mustRegister(t, s, "carol")
	followAlice(t, s, bob, carol)
	// fill takes a timeline to the cap plus the slack, past every trim
	// point, so that the next post trims it.
	fill := func(user string) {
		t.Helper()
		key := "timeline:" + user
		pipe := rdb.Pipeline()
		for i := rdb.LLen(ctx, key).Val(); i < UserTimelineCap+UserTimelineSlack; i++ {
			pipe.RPush(ctx, key, 100000+i)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	post := func() string {
		t.Helper()
		id, err := s.Post(ctx, alice, "hello")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	fill(bob)
	first := post() // trims bob's timeline
	fill(carol)     // not a key the pending trim touches
	second := post()
	settle(t, s)
	for user, want := range map[string][]string{
		bob:   {second, first},
		carol: {second},
	} {
		key := "timeline:" + user
		wantLen := int64(UserTimelineCap + len(want) - 1)
		if n := rdb.LLen(ctx, key).Val(); n != wantLen {
			t.Errorf("%s holds %d ids; want %d", key, n, wantLen)
		}
		if head := rdb.LRange(ctx, key, 0, int64(len(want)-1)).Val(); !slices.Equal(head, want) {
			t.Errorf("%s starts with %q; want %q", key, head, want)
		}
	}
}

// The transaction reads the followers, then writes: a follow or an unfollow
// in between must make it start over, so that the tweet reaches exactly the
// followers of one moment.
func TestWidePostStartsOverWhenFollowersChange(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	carol, _ := mustRegister(t, s, "carol")
	followAlice(t, s, bob, carol)
	dave, _ := mustRegister(t, s, "dave")
	attempts := 0
	s.afterWatch = func() {
		attempts++
		if attempts == 1 { // dave follows and carol leaves mid-post
			if err := s.Follow(ctx, dave, "alice"); err != nil {
				t.Error(err)
			}
			if err := s.Unfollow(ctx, carol, "alice"); err != nil {
				t.Error(err)
			}
		}
	}
	id, err := s.Post(ctx, alice, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("%d attempts; want 2", attempts)
	}
	for user, want := range map[string]bool{alice: true, bob: true, dave: true, carol: false} {
		got := slices.Contains(rdb.LRange(ctx, "timeline:"+user, 0, -1).Val(), id)
		if got != want {
			t.Errorf("timeline:%s holds the tweet: %v; want %v", user, got, want)
		}
	}
	if tl := rdb.LRange(ctx, "timeline", 0, -1).Val(); !slices.Equal(tl, []string{id}) {
		t.Errorf("timeline = %v; want [%s] once", tl, id)
	}
}

// Followers that change on every attempt: the post is refused with a clear
// message and writes nothing but the used-up id counter (as pytwis's would).
func TestWidePostGivesUpWritingNothing(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	follows := false
	s.afterWatch = func() {
		var err error
		if follows = !follows; follows {
			err = s.Follow(ctx, bob, "alice")
		} else {
			err = s.Unfollow(ctx, bob, "alice")
		}
		if err != nil {
			t.Error(err)
		}
	}
	_, err := s.Post(ctx, alice, "hello")
	wantRefusal(t, err, Conflict, errFollowersChanging.Msg)
	if n := rdb.Get(ctx, "next_tweet_id").Val(); n != "1" {
		t.Errorf("next_tweet_id = %q; want 1 (one id reserved)", n)
	}
	for _, key := range []string{"tweet:1", "timeline", "timeline:" + alice, "timeline:" + bob, "tweets_by:" + alice} {
		if rdb.Exists(ctx, key).Val() != 0 {
			t.Errorf("%s was written", key)
		}
	}
}

// Redis going away in the middle of a wide post is an outage (a 503 page),
// not a bug.
func TestWidePostDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	s.wideFanOut = -1
	alice, _ := mustRegister(t, s, "alice")
	s.afterWatch = srv.Stop
	_, err := s.Post(context.Background(), alice, "hello")
	if err == nil || !IsUnavailable(err) {
		t.Errorf("post while Redis stopped: %v; want an outage", err)
	}
}

// The follower set is Redis's to hold: members that are not plain decimal
// ids (pytwis writes none) still get the tweet, in the timeline spelled as
// the member is, and "007" is not taken for "7".
func TestWidePostReachesOddMembers(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	followAlice(t, s, bob)
	odd := []string{"007", "0", "x y", "18446744073709551616"}
	for _, m := range odd {
		rdb.ZAdd(ctx, "follower:"+alice, redis.Z{Score: 1, Member: m})
	}
	id, err := s.Post(ctx, alice, "hello")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(odd, alice, bob) {
		if tl := rdb.LRange(ctx, "timeline:"+m, 0, -1).Val(); !slices.Equal(tl, []string{id}) {
			t.Errorf("timeline:%s = %v; want [%s]", m, tl, id)
		}
	}
	if n := rdb.Exists(ctx, "timeline:7").Val(); n != 0 {
		t.Error("timeline:7 was written")
	}
}

// An author whose post went to more than wideFanOut followers has the next
// post go straight to the transaction, reserving its id in the round trip
// that reads the followers; once the author is back under the threshold, the
// post after that takes the script again. Every post reaches the followers.
func TestWideAuthorSkipsTheScript(t *testing.T) {
	srv := redistest.Start(t)
	if srv.InProcess() {
		t.Skip("needs redis-server's INFO commandstats")
	}
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	s.wideFanOut = 1
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	bob, _ := mustRegister(t, s, "bob")
	carol, _ := mustRegister(t, s, "carol")
	followAlice(t, s, bob, carol)
	steps := []struct {
		name          string
		before        func() error
		evalsha, exec int
	}{
		{"first post: the script says wide", nil, 1, 1},
		{"known wide: no script", nil, 0, 1},
		{"down to one follower: still wide once", func() error { return s.Unfollow(ctx, carol, "alice") }, 0, 1},
		{"back under the threshold: the script alone", nil, 1, 0},
	}
	for i, step := range steps {
		if step.before != nil {
			if err := step.before(); err != nil {
				t.Fatal(err)
			}
		}
		rdb.ConfigResetStat(ctx)
		id, err := s.Post(ctx, alice, "hello")
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if want := strconv.Itoa(i + 1); id != want {
			t.Errorf("%s: tweet id %s; want %s", step.name, id, want)
		}
		if got := rdb.LIndex(ctx, "timeline:"+bob, 0).Val(); got != id {
			t.Errorf("%s: bob's newest tweet %q; want %s", step.name, got, id)
		}
		stats := commandStats(t, rdb)
		if stats["evalsha"].calls != step.evalsha || stats["exec"].calls != step.exec {
			t.Errorf("%s: %d EVALSHA and %d EXEC; want %d and %d", step.name, stats["evalsha"].calls, stats["exec"].calls, step.evalsha, step.exec)
		}
	}
}

// commandStat is one command's line of INFO commandstats.
type commandStat struct {
	calls int
	usec  float64
}

// commandStats reads INFO commandstats: each command's calls and time since
// the last CONFIG RESETSTAT.
func commandStats(tb testing.TB, rdb *redis.Client) map[string]commandStat {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil && strings.Contains(err.Error(), "not supported") && !redistest.Strict() {
		tb.Skip("the in-process Redis has no INFO commandstats: install redis-server to run the rest")
	}
	if err != nil {
		tb.Fatal(err)
	}
	stats := map[string]commandStat{}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			var st commandStat
			name, fields, _ := strings.Cut(rest, ":")
			if _, err := fmt.Sscanf(fields, "calls=%d,usec=%g", &st.calls, &st.usec); err == nil {
				stats[name] = st
			}
		}
	}
	return stats
}

// postWide keeps the follower sets it has read, and Redis reports changes to
// them (client-side caching): a change made by another client, such as pytwis
// or another pytwask, reaches the next post all the same, as do a flush and a
// restart of Redis, and an unchanged set is not read again. Without RESP3
// (HELLO renamed away, as on Redis 5) every post reads the set.
func TestWidePostKeepsFollowersUntilTheyChange(t *testing.T) {
	for _, server := range []struct {
		name     string
		args     []string
		tracking bool
	}{
		{"tracking", nil, true},
		{"no RESP3", []string{"--rename-command", "HELLO", ""}, false},
	} {
		t.Run(server.name, func(t *testing.T) {
			srv := redistest.Start(t, server.args...)
			rdb := srv.Client()
			t.Cleanup(func() { rdb.Close() })
			s := New(rdb, testHasher, nil)
			t.Cleanup(s.Close)
			s.wideFanOut = -1
			ctx := context.Background()
			users := make([]string, 5)
			for i := range users {
				users[i], _ = mustRegister(t, s, fmt.Sprintf("user%d", i))
			}
			alice, bob, carol, dave, erin := users[0], users[1], users[2], users[3], users[4]
			if err := s.Follow(ctx, bob, "user0"); err != nil {
				t.Fatal(err)
			}
			follow := func(f string) { rdb.ZAdd(ctx, "follower:"+alice, redis.Z{Score: 1, Member: f}) }
			steps := []struct {
				name     string
				before   func()
				reach    []string
				miss     []string
				readsSet bool // with tracking
			}{
				{"first post", nil, []string{alice, bob}, []string{carol}, true},
				{"followers unchanged", nil, []string{alice, bob}, []string{carol}, false},
				{"carol follows, written elsewhere", func() { follow(carol) }, []string{bob, carol}, nil, true},
				{"unchanged again", nil, []string{bob, carol}, nil, false},
				{"bob leaves, written elsewhere", func() { rdb.ZRem(ctx, "follower:"+alice, bob) }, []string{carol}, []string{bob}, true},
				{"database flushed", func() { rdb.FlushDB(ctx); follow(dave) }, []string{dave}, []string{carol}, true},
				{"Redis restarted", func() { srv.Stop(); srv.Restart(); follow(erin) }, []string{erin}, []string{dave}, true},
				{"after the restart", nil, []string{erin}, []string{dave}, false},
			}
			for _, step := range steps {
				if step.before != nil {
					step.before()
				}
				if !srv.InProcess() {
					rdb.ConfigResetStat(ctx)
				}
				id, err := s.Post(ctx, alice, step.name)
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				for _, u := range step.reach {
					if got := rdb.LIndex(ctx, "timeline:"+u, 0).Val(); got != id {
						t.Errorf("%s: timeline:%s starts with %q; want %s", step.name, u, got, id)
					}
				}
				for _, u := range step.miss {
					if got := rdb.LIndex(ctx, "timeline:"+u, 0).Val(); got == id {
						t.Errorf("%s: timeline:%s got tweet %s", step.name, u, id)
					}
				}
				if srv.InProcess() {
					continue // no INFO commandstats
				}
				want := 1
				if server.tracking && !step.readsSet {
					want = 0
				}
				if got := commandStats(t, rdb)["zrange"].calls; got != want {
					t.Errorf("%s: %d ZRANGE; want %d", step.name, got, want)
				}
			}
		})
	}
}

// Wide posts at the same time each get a connection (one kept, the others
// their own) and all reach the followers.
func TestConcurrentWidePosts(t *testing.T) {
	s, rdb, alice, bob := wideStore(t)
	ctx := context.Background()
	followAlice(t, s, bob)
	const posts = 8
	ids := make(chan string, posts)
	var wg sync.WaitGroup
	for i := range posts {
		wg.Go(func() {
			id, err := s.Post(ctx, alice, fmt.Sprint("hello ", i))
			if err != nil {
				t.Error(err)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	timeline := rdb.LRange(ctx, "timeline:"+bob, 0, -1).Val()
	for id := range ids {
		if !slices.Contains(timeline, id) {
			t.Errorf("tweet %s missing from bob's timeline %v", id, timeline)
		}
	}
	if len(timeline) != posts {
		t.Errorf("bob's timeline has %d tweets; want %d", len(timeline), posts)
	}
	// Only the connection to keep asked Redis to track for it; the others
	// served one post each. (go-redis sends HELLO too, so that is not
	// counted.)
	if n := commandStats(t, rdb)["client|tracking"].calls; n != 1 {
		t.Errorf("CLIENT TRACKING sent %d times; want once", n)
	}
}

// A post made with WithWidePost calls the hook as a post to more than
// wideFanOut followers begins, and what the hook returned once the post is
// over; a post to fewer calls neither.
func TestWidePostHook(t *testing.T) {
	s, rdb := newStore(t)
	s.wideFanOut = 1
	alice, _ := mustRegister(t, s, "alice")
	bob, _ := mustRegister(t, s, "bob")
	carol, _ := mustRegister(t, s, "carol")
	var events []string
	ctx := WithWidePost(context.Background(), func() func() {
		events = append(events, "start")
		return func() { events = append(events, "done") }
	})
	s.afterWatch = func() { events = append(events, "fan-out") }
	steps := []struct {
		name      string
		followers []string
		want      []string
	}{
		{"one follower", []string{bob}, nil},
		{"two followers, as the script finds", []string{carol}, []string{"start", "fan-out", "done"}},
		{"two followers, known", nil, []string{"start", "fan-out", "done"}},
	}
	for _, step := range steps {
		followAlice(t, s, step.followers...)
		events = nil
		id, err := s.Post(ctx, alice, "hello")
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !slices.Equal(events, step.want) {
			t.Errorf("%s: %q; want %q", step.name, events, step.want)
		}
		if got := rdb.LIndex(ctx, "timeline:"+bob, 0).Val(); got != id {
			t.Errorf("%s: bob's newest tweet %q; want %s", step.name, got, id)
		}
	}
}
