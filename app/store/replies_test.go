package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestReplies: a reply records the tweet it answers, is listed under it and
// shows like any tweet; a tweet's conversation is its ancestors, oldest
// first, and its replies, newest first; a reply to a tweet that does not
// exist is refused and writes nothing.
func TestReplies(t *testing.T) {
	s, rdb := newStore(t)
	testReplies(t, s, rdb)
}

// TestRepliesOnCluster is TestReplies on a Redis Cluster.
func TestRepliesOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	testReplies(t, s, rdb)
}

func testReplies(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	_, bob := mustRegister(t, s, "bob")
	_, carol := mustRegister(t, s, "carol")
	root := mustPost(t, s, alice, "a question")
	answer, err := s.Reply(ctx, bob, root, "an answer")
	if err != nil {
		t.Fatal(err)
	}
	thanks, err := s.Reply(ctx, carol, answer, "thanks")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Reply(ctx, carol, root, "another answer")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}

	// pytwis's three fields, and pytwask's own: what it answers, and how
	// many replies it has.
	h := rdb.HGetAll(ctx, "tweet:"+answer).Val()
	if h["body"] != "an answer" || h["userid"] == "" || h["unix_time"] == "" || h["pytwask_reply_to"] != root ||
		h["pytwask_replies"] != "1" || len(h) != 5 {
		t.Errorf("tweet:%s = %v", answer, h)
	}

	_, c, err := s.TweetConversation(ctx, "", answer, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tweet.ID != answer || c.Tweet.ReplyTo != root || c.Tweet.ReplyToUser != "alice" || c.Tweet.Username != "bob" {
		t.Errorf("the answer: %+v", c.Tweet)
	}
	if len(c.Ancestors) != 1 || c.Ancestors[0].ID != root || c.Ancestors[0].Deleted {
		t.Errorf("the answer's ancestors: %+v", c.Ancestors)
	}
	if len(c.Replies.Tweets) != 1 || c.Replies.Tweets[0].ID != thanks || c.Tweet.Replies != 1 {
		t.Errorf("the answer's replies: %+v (%d)", c.Replies, c.Tweet.Replies)
	}
	_, c, err = s.TweetConversation(ctx, "", root, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ancestors) != 0 || c.Tweet.Replies != 2 || len(c.Replies.Tweets) != 1 || c.Replies.Tweets[0].ID != other || !c.Replies.More {
		t.Errorf("the question's first page of replies: %+v (%d)", c.Replies, c.Tweet.Replies)
	}
	_, p, err := s.Timeline(ctx, "", General, 0, 10)
	if err != nil || len(p.Tweets) != 4 || p.Tweets[1].ReplyToUser != "bob" {
		t.Errorf("the general timeline: %+v, %v", p.Tweets, err)
	}

	// Tags and mentions, found when posted.
	tagged, err := s.Reply(ctx, carol, root, "@ALICE @nobody look: #Go #go #Straße")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"GO", "strasse"} {
		_, p, err := s.TagTweets(ctx, "", tag, 0, 10)
		if err != nil || len(p.Tweets) != 1 || p.Tweets[0].ID != tagged || p.Tweets[0].Mentions != "alice" {
			t.Errorf("tag %s: %+v, %v", tag, p.Tweets, err)
		}
	}
	if _, p, err := s.TagTweets(ctx, "", "unused", 0, 10); err != nil || len(p.Tweets) != 0 {
		t.Errorf("an unused tag: %+v, %v", p, err)
	}

	next := rdb.Get(ctx, "next_tweet_id").Val()
	for _, parent := range []string{"999999", "abc", "", "-1"} {
		if _, err := s.Reply(ctx, bob, parent, "into the void"); !errors.Is(err, ErrNoSuchTweet) {
			t.Errorf("a reply to %q: %v", parent, err)
		}
	}
	if got := rdb.Get(ctx, "next_tweet_id").Val(); got != next {
		t.Errorf("refused replies moved next_tweet_id from %s to %s", next, got)
	}
	if _, _, err := s.TweetConversation(ctx, "", "999999", 0, 10); !isKind(err, NotFound) {
		t.Errorf("the page of a tweet that does not exist: %v", err)
	}

	// A reply whose parent's hash is gone altogether (nothing deletes one:
	// by hand here, read by a store whose in-process cache never saw it)
	// shows the parent deleted, and the conversation ends there.
	rdb.Del(ctx, "tweet:"+answer)
	_, c, err = New(rdb, testHasher, nil).TweetConversation(ctx, "", thanks, 0, 10)
	if err != nil || len(c.Ancestors) != 1 || c.Ancestors[0] != (Tweet{ID: answer, Deleted: true}) ||
		c.Tweet.ReplyTo != answer || c.Tweet.ReplyToUser != "" {
		t.Errorf("a reply to a gone tweet: %+v, %v", c, err)
	}
}

// TestMarks: a like or a repost counts once however often sent,
// concurrently too: 100 users at once make 100, and one user's 20 at once
// make one. Taking it back counts down; a tweet that does not exist cannot
// be marked, nor can anyone without a session.
func TestMarks(t *testing.T) {
	s, _ := newStore(t)
	testMarks(t, s)
}

// TestMarksOnCluster is TestMarks on a Redis Cluster.
func TestMarksOnCluster(t *testing.T) {
	s, _, _ := clusterStore(t)
	testMarks(t, s)
}

func testMarks(t *testing.T, s *Store) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	secrets := make([]string, 100)
	for i := range secrets {
		_, secrets[i] = mustRegister(t, s, fmt.Sprintf("fan%d", i))
	}
	for _, m := range []struct {
		name  string
		mark  func(ctx context.Context, secret, id string, on bool) error
		count func(Tweet) (int64, bool)
	}{
		{"like", s.Like, func(t Tweet) (int64, bool) { return t.Likes, t.Liked }},
		{"repost", s.Repost, func(t Tweet) (int64, bool) { return t.Reposts, t.Reposted }},
	} {
		t.Run(m.name, func(t *testing.T) {
			id := mustPost(t, s, alice, m.name+" me")
			var wg sync.WaitGroup
			for _, secret := range secrets {
				wg.Go(func() {
					if err := m.mark(ctx, secret, id, true); err != nil {
						t.Error(err)
					}
				})
			}
			for range 20 { // alice, many times at once
				wg.Go(func() {
					if err := m.mark(ctx, aliceSecret, id, true); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			_, c, err := s.TweetConversation(ctx, aliceSecret, id, 0, 10)
			if n, mine := m.count(c.Tweet); err != nil || n != 101 || !mine {
				t.Errorf("after 100 users and alice 20 times: %d (alice's: %v), %v", n, mine, err)
			}
			if err := m.mark(ctx, aliceSecret, id, false); err != nil {
				t.Fatal(err)
			}
			_, c, _ = s.TweetConversation(ctx, aliceSecret, id, 0, 10)
			if n, mine := m.count(c.Tweet); n != 100 || mine {
				t.Errorf("after alice took hers back: %d (alice's: %v)", n, mine)
			}
			if _, c, _ := s.TweetConversation(ctx, secrets[0], id, 0, 10); !func() bool { _, mine := m.count(c.Tweet); return mine }() {
				t.Errorf("fan0's %s is not shown as theirs", m.name)
			}
			if err := m.mark(ctx, aliceSecret, "999999", true); !errors.Is(err, ErrNoSuchTweet) {
				t.Errorf("a tweet that does not exist: %v", err)
			}
			if err := m.mark(ctx, "no-such-secret", id, true); !errors.Is(err, ErrNotLoggedIn) {
				t.Errorf("without a session: %v", err)
			}
		})
	}
}

// TestReposts: a repost puts the tweet on the timelines of the reposter's
// followers, marked with who reposted it, once however many of the users
// they follow repost it and not at all where it is already; undoing it
// takes it off the timelines it was put on, and nowhere else. Both with
// the followers served in the request and by a fan-out job.
func TestReposts(t *testing.T) {
	for _, inline := range []int{InlineFanOut, 1} {
		t.Run(fmt.Sprintf("inline=%d", inline), func(t *testing.T) {
			s, _ := newStore(t)
			s.inlineFanOut = inline
			testReposts(t, s)
		})
	}
}

// TestRepostsOnCluster is TestReposts on a Redis Cluster.
func TestRepostsOnCluster(t *testing.T) {
	s, _, _ := clusterStore(t)
	s.inlineFanOut = 1
	testReposts(t, s)
}

func testReposts(t *testing.T, s *Store) {
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	_, bobSecret := mustRegister(t, s, "bob")
	_, carolSecret := mustRegister(t, s, "carol")
	dave, daveSecret := mustRegister(t, s, "dave") // follows bob and carol
	erin, erinSecret := mustRegister(t, s, "erin") // follows bob and alice
	for _, f := range []struct{ who, whom string }{{dave, "bob"}, {dave, "carol"}, {erin, "bob"}, {erin, "alice"}} {
		if err := s.Follow(ctx, f.who, f.whom); err != nil {
			t.Fatal(err)
		}
	}
	id := mustPost(t, s, alice, "worth repeating")
	drain := func() {
		t.Helper()
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	// entries is what a timeline shows of the tweet: how often, and who
	// reposted it there.
	entries := func(secret string) (n int, by string) {
		t.Helper()
		_, p, err := s.Timeline(ctx, secret, Own, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, tw := range p.Tweets {
			if tw.ID == id {
				n, by = n+1, tw.RepostedBy
			}
		}
		return n, by
	}
	for range 2 {
		if err := s.Repost(ctx, bobSecret, id, true); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	if err := s.Repost(ctx, carolSecret, id, true); err != nil {
		t.Fatal(err)
	}
	drain()
	for _, c := range []struct {
		who, secret string
		n           int
		by          string
	}{
		{"dave", daveSecret, 1, "bob"}, // bob's repost came first; carol's does not repeat it
		{"erin", erinSecret, 1, ""},    // she follows alice: she had it already
		{"bob", bobSecret, 1, "bob"},   // the reposter's own timeline
	} {
		if n, by := entries(c.secret); n != c.n || by != c.by {
			t.Errorf("%s's timeline has the tweet %d times, reposted by %q; want %d, %q", c.who, n, by, c.n, c.by)
		}
	}
	_, c, err := s.TweetConversation(ctx, daveSecret, id, 0, 10)
	if err != nil || c.Tweet.Reposts != 2 || c.Tweet.Reposted {
		t.Errorf("the tweet's page for dave: %d reposts (his: %v), %v", c.Tweet.Reposts, c.Tweet.Reposted, err)
	}

	// Undone: off the timelines bob's repost put it on, and only those.
	if err := s.Repost(ctx, bobSecret, id, false); err != nil {
		t.Fatal(err)
	}
	drain()
	if n, _ := entries(daveSecret); n != 0 {
		t.Errorf("dave's timeline has the tweet %d times after bob's undo", n)
	}
	if n, _ := entries(erinSecret); n != 1 {
		t.Errorf("erin's timeline has the tweet %d times after bob's undo; she follows alice", n)
	}
	if _, c, _ := s.TweetConversation(ctx, bobSecret, id, 0, 10); c.Tweet.Reposts != 1 || c.Tweet.Reposted {
		t.Errorf("after bob's undo: %d reposts (his: %v)", c.Tweet.Reposts, c.Tweet.Reposted)
	}
}

// More notifications than a user keeps count as many unread as kept (the
// newest), so that taking them back, as the deletion of what they tell
// of does, leaves no unread count with nothing to read.
func TestUnreadNoMoreThanKept(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, aliceSecret := mustRegister(t, s, "alice")
		bob, bobSecret := mustRegister(t, s, "bob")
		var tweets []string
		for i := range NotificationsCap + 10 {
			tweets = append(tweets, mustPost(t, s, alice, fmt.Sprintf("@bob %d", i)))
		}
		if n, kept := mustUnread(t, s, bobSecret), rdb.LLen(ctx, notificationsKey(bob)).Val(); n != NotificationsCap || kept != NotificationsCap {
			t.Fatalf("bob has %d unread of %d notifications; want %d of %d", n, kept, NotificationsCap, NotificationsCap)
		}
		for _, id := range tweets {
			if err := s.DeleteTweet(ctx, aliceSecret, id); err != nil {
				t.Fatal(err)
			}
		}
		if n, kept := mustUnread(t, s, bobSecret), rdb.LLen(ctx, notificationsKey(bob)).Val(); n != 0 || kept != 0 {
			t.Errorf("after alice deleted her tweets, bob has %d unread of %d notifications; want none", n, kept)
		}
	})
}

// TestNotifications: a mention, a reply, a follow and a first like each
// tell the user concerned once (never the actor; a reply that mentions
// its parent's author tells them of the reply only); reading clears the
// unread count.
func TestNotifications(t *testing.T) {
	s, _ := newStore(t)
	testNotifications(t, s)
}

// TestNotificationsOnCluster is TestNotifications on a Redis Cluster.
func TestNotificationsOnCluster(t *testing.T) {
	s, _, _ := clusterStore(t)
	testNotifications(t, s)
}

func testNotifications(t *testing.T, s *Store) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")
	root := mustPost(t, s, alice, "hello @bob and @alice")
	reply, err := s.Reply(ctx, bobSecret, root, "@ALICE hi") // a reply that mentions: once
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Follow(ctx, bob, "alice"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Like(ctx, bobSecret, root, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Like(ctx, aliceSecret, root, true); err != nil { // one's own: nobody to tell
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Repost(ctx, bobSecret, root, true); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := s.Authenticate(ctx, aliceSecret)
	if v.Unread != 4 {
		t.Errorf("alice has %d unread; want 4 (the reply that mentions her, the follow, the like, the repost)", v.Unread)
	}
	_, items, more, err := s.Notifications(ctx, aliceSecret, 0, 10)
	if err != nil || more || len(items) != 4 {
		t.Fatalf("alice's notifications: %+v, %v, %v", items, more, err)
	}
	for i, want := range []struct{ kind, actor, tweet string }{{NotifyRepost, "bob", root}, {NotifyLike, "bob", root},
		{NotifyFollow, "bob", ""}, {NotifyReply, "bob", reply}} {
		got := items[i]
		tweet := ""
		if got.Tweet != nil {
			tweet = got.Tweet.ID
		}
		if got.Kind != want.kind || got.Actor != want.actor || tweet != want.tweet {
			t.Errorf("notification %d = %s by %s about %q; want %s by %s about %q", i, got.Kind, got.Actor, tweet, want.kind, want.actor, want.tweet)
		}
	}
	if v, _ := s.Authenticate(ctx, aliceSecret); v.Unread != 0 {
		t.Errorf("%d unread after reading", v.Unread)
	}
	if _, items, _, _ := s.Notifications(ctx, bobSecret, 0, 10); len(items) != 1 || items[0].Kind != NotifyMention || items[0].Actor != "alice" {
		t.Errorf("bob's notifications: %+v", items)
	}

	// Undoing takes the notification back, so that doing and undoing again
	// and again tells alice once; an unread one comes off the count, one
	// read already leaves it. Following twice tells her once.
	steps := []func() error{
		func() error { return s.Like(ctx, bobSecret, root, false) },   // read: the count stays 0
		func() error { return s.Like(ctx, bobSecret, root, true) },    // unread 1
		func() error { return s.Like(ctx, bobSecret, root, false) },   // unread 0
		func() error { return s.Like(ctx, bobSecret, root, true) },    // unread 1
		func() error { return s.Repost(ctx, bobSecret, root, false) }, // read: 1
		func() error { return s.Unfollow(ctx, bob, "alice") },         // read: 1
		func() error { return s.Follow(ctx, bob, "alice") },           // unread 2
		func() error { return s.Follow(ctx, bob, "alice") },           // already: 2
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if v, _ := s.Authenticate(ctx, aliceSecret); v.Unread != 2 {
		t.Errorf("alice has %d unread after likes, reposts and follows undone and done again; want 2", v.Unread)
	}
	_, items, _, err = s.Notifications(ctx, aliceSecret, 0, 10)
	var got []string
	for _, n := range items {
		got = append(got, n.Kind)
	}
	if want := []string{NotifyFollow, NotifyLike, NotifyReply}; err != nil || !slices.Equal(got, want) {
		t.Errorf("alice's notifications are %q, %v; want %q", got, err, want)
	}
	if _, _, _, err := s.Notifications(ctx, "nobody", 0, 10); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("notifications of nobody: %v", err)
	}
}

// TestRepostMarksOfABusyTimeline: a timeline with more repost marks than
// the page script reads whole still shows whose repost put each tweet
// there.
func TestRepostMarksOfABusyTimeline(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	_, bobSecret := mustRegister(t, s, "bob")
	carol, carolSecret := mustRegister(t, s, "carol")
	if err := s.Follow(ctx, carol, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		id := mustPost(t, s, alice, fmt.Sprintf("tweet %d", i))
		if err := s.Repost(ctx, bobSecret, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.HLen(ctx, "pytwask:via:{timeline:"+carol+"}").Val(); n != 40 {
		t.Fatalf("carol's via hash has %d marks; want 40", n)
	}
	_, p, err := s.Timeline(ctx, carolSecret, Own, 0, 50)
	if err != nil || len(p.Tweets) != 40 {
		t.Fatalf("carol's timeline: %d tweets, %v", len(p.Tweets), err)
	}
	for _, tw := range p.Tweets {
		if tw.RepostedBy != "bob" {
			t.Errorf("tweet %s on carol's timeline is marked %q; want bob", tw.ID, tw.RepostedBy)
		}
	}
}

// TestCountsOfTweetsReadAgain: a tweet read again from Redis (its cache
// dropped: here by a new generation) keeps the counts the page took from
// the counts cache.
func TestCountsOfTweetsReadAgain(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	id := mustPost(t, s, alice, "count me")
	if err := s.Like(ctx, aliceSecret, id, true); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		_, p, err := s.Timeline(ctx, "", General, 0, 10)
		if err != nil || len(p.Tweets) != 1 || p.Tweets[0].Likes != 1 {
			t.Fatalf("round %d: %+v, %v; want the tweet with 1 like", round, p.Tweets, err)
		}
		rdb.Set(ctx, "pytwask:generation", fmt.Sprintf("new-%d", round), 0)
	}
}

// TestRepostBeforeTheFanOut: a follower of both the author and a reposter
// whom the repost reaches before the author's own fan-out job does has the
// tweet once, marked as the repost.
func TestRepostBeforeTheFanOut(t *testing.T) {
	s, _ := newStore(t)
	testRepostBeforeTheFanOut(t, s)
}

// TestRepostBeforeTheFanOutOnCluster is TestRepostBeforeTheFanOut on a
// Redis Cluster.
func TestRepostBeforeTheFanOutOnCluster(t *testing.T) {
	s, _, _ := clusterStore(t)
	testRepostBeforeTheFanOut(t, s)
}

func testRepostBeforeTheFanOut(t *testing.T, s *Store) {
	ctx := context.Background()
	s.inlineFanOut = 1 // alice's post to two followers is a job
	alice, _ := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")
	carol, carolSecret := mustRegister(t, s, "carol")
	for _, f := range []struct{ who, whom string }{{bob, "alice"}, {carol, "alice"}, {carol, "bob"}} {
		if err := s.Follow(ctx, f.who, f.whom); err != nil {
			t.Fatal(err)
		}
	}
	id := mustPost(t, s, alice, "fast news")
	// bob reads it at once on the general timeline and reposts it; his
	// one follower, carol, is served in the request, before the job.
	s.inlineFanOut = 5
	if err := s.Repost(ctx, bobSecret, id, true); err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	_, p, err := s.Timeline(ctx, carolSecret, Own, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tw := range p.Tweets {
		if tw.ID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("carol's timeline has the tweet %d times; want once", n)
	}
}

// TestFlagsOfAWholeTimeline: the CLI's "timeline -1" reads a whole
// timeline, which a database pytwis wrote may hold untrimmed: more ids than
// a Lua script can pass to one command at once. The viewer's likes,
// reposts and repost marks are still read for every tweet.
func TestFlagsOfAWholeTimeline(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")
	old := mustPost(t, s, alice, "old")
	newer := mustPost(t, s, alice, "newer")
	if err := s.Like(ctx, bobSecret, old, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Repost(ctx, bobSecret, old, true); err != nil { // marked "bob reposted" on his timeline
		t.Fatal(err)
	}
	// bob's timeline: the newer tweet, 9,000 ids of tweets long gone, the old one.
	ids := []any{newer}
	for i := range 9000 {
		ids = append(ids, strconv.Itoa(900000+i))
	}
	ids = append(ids, old)
	key := "timeline:" + bob
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.RPush(ctx, key, ids...).Err(); err != nil {
		t.Fatal(err)
	}
	_, page, err := s.Timeline(ctx, bobSecret, Own, 0, -1)
	if err != nil {
		t.Fatalf("bob's whole timeline: %v", err)
	}
	var got []string
	for _, tw := range page.Tweets {
		got = append(got, fmt.Sprintf("%s liked=%v reposted=%v by=%q", tw.Body, tw.Liked, tw.Reposted, tw.RepostedBy))
	}
	if want := []string{`newer liked=false reposted=false by=""`, `old liked=true reposted=true by="bob"`}; !slices.Equal(got, want) {
		t.Errorf("bob's whole timeline: %q; want %q", got, want)
	}
}

// TestUndoWhileFull: with Redis full, taking back a repost to followers
// served by a fan-out job, or a like, is refused before anything changed,
// and done whole once there is room. Taken out of the sets first, a repost
// stayed on the followers' timelines for good: the job was refused, and
// asking again changed nothing.
func TestUndoWhileFull(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		if rdb.ConfigSet(t.Context(), "maxmemory", "0").Err() != nil {
			t.Skip("needs redis-server: the in-memory stand-in has no maxmemory")
		}
		s.inlineFanOut = 1
		ctx := context.Background()
		alice, _ := mustRegister(t, s, "alice")
		_, bobSecret := mustRegister(t, s, "bob")
		var carolSecret string
		for _, name := range []string{"carol", "dan", "erin"} {
			id, secret := mustRegister(t, s, name)
			if err := s.Follow(ctx, id, "bob"); err != nil {
				t.Fatal(err)
			}
			if name == "carol" {
				carolSecret = secret
			}
		}
		tweet := mustPost(t, s, alice, "worth a repost")
		if err := s.Repost(ctx, bobSecret, tweet, true); err != nil {
			t.Fatal(err)
		}
		if err := s.Like(ctx, bobSecret, tweet, true); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		shown := func(want string) {
			t.Helper()
			_, p, err := s.Timeline(ctx, carolSecret, Own, 0, 10)
			got := "nothing"
			if err == nil && len(p.Tweets) > 0 {
				tw := p.Tweets[0]
				got = fmt.Sprintf("reposted by %q, %d reposts, %d likes", tw.RepostedBy, tw.Reposts, tw.Likes)
			}
			if got != want {
				t.Errorf("carol's timeline shows %s, %v; want %s", got, err, want)
			}
		}
		shown(`reposted by "bob", 1 reposts, 1 likes`)

		setFull(t, s, true)
		for what, undo := range map[string]func(context.Context, string, string, bool) error{"repost": s.Repost, "like": s.Like} {
			if err := undo(ctx, bobSecret, tweet, false); !WritesRefused(err) {
				t.Errorf("undo a %s with Redis full: %v; want it refused", what, err)
			}
		}
		setFull(t, s, false)
		settle(t, s)
		shown(`reposted by "bob", 1 reposts, 1 likes`)

		for _, undo := range []func(context.Context, string, string, bool) error{s.Repost, s.Like} {
			if err := undo(ctx, bobSecret, tweet, false); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, s)
		shown("nothing")
	})
}

// TestNoticeAfterTheTweetsDeletion: a like's or a repost's notice written
// after the tweet's deletion took its notices back (the like marked
// before the deletion, its notice after) is taken back too. Four users at
// once in TestRandomOperations left one behind.
func TestNoticeAfterTheTweetsDeletion(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, aliceSecret := mustRegister(t, s, "alice")
		bob, _ := mustRegister(t, s, "bob")
		id := mustPost(t, s, alice, "about to go")
		if err := s.DeleteTweet(ctx, aliceSecret, id); err != nil {
			t.Fatal(err)
		}
		// Bob's repost, marked before the deletion, tells alice now.
		s.notify(ctx, NotifyRepost, bob, id, alice)
		if n := rdb.LLen(ctx, notificationsKey(alice)).Val(); n != 0 {
			t.Errorf("alice has %d notifications; want none: %q", n, rdb.LRange(ctx, notificationsKey(alice), 0, -1).Val())
		}
		if n, _ := rdb.Get(ctx, unreadKey(alice)).Int(); n != 0 {
			t.Errorf("alice has %d unread", n)
		}
	})
}
