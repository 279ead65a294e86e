package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDeleteTweet: a deleted tweet is gone at once from every list a reader
// sees, on every instance (their caches included): the author's tweets,
// the general timeline, followers' and reposters' followers' timelines,
// its tag's page, its own page and notifications; Redis keeps only its
// tombstone, which pytwis reads as a tweet, and no list pytwis reads holds
// its id once the fan-out workers are done. Only the author may delete it;
// a reply to it stays. Both with the followers served by jobs and not.
func TestDeleteTweet(t *testing.T) {
	for _, inline := range []int{InlineFanOut, 1} {
		t.Run(fmt.Sprintf("inline=%d", inline), func(t *testing.T) {
			s, rdb := newStore(t)
			s.inlineFanOut = inline
			testDeleteTweet(t, s, New(rdb, testHasher, nil), rdb)
		})
	}
}

// TestDeleteTweetOnCluster is TestDeleteTweet on a Redis Cluster.
func TestDeleteTweetOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	s.inlineFanOut = 1
	testDeleteTweet(t, s, New(rdb, testHasher, nil), rdb)
}

func testDeleteTweet(t *testing.T, s, other *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")       // follows alice
	carol, carolSecret := mustRegister(t, s, "carol") // follows bob
	_, daveSecret := mustRegister(t, s, "dave")
	for _, f := range []struct{ who, whom string }{{bob, "alice"}, {carol, "bob"}} {
		if err := s.Follow(ctx, f.who, f.whom); err != nil {
			t.Fatal(err)
		}
	}
	drain := func() {
		t.Helper()
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	id := mustPost(t, s, alice, "regrettable #Oops @bob")
	kept := mustPost(t, s, alice, "kept #oops")
	reply, err := s.Reply(ctx, bobSecret, id, "an answer")
	if err != nil {
		t.Fatal(err)
	}
	drain()
	if err := s.Like(ctx, bobSecret, id, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Like(ctx, carolSecret, id, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Repost(ctx, bobSecret, id, true); err != nil {
		t.Fatal(err)
	}
	drain()

	// lists is what each reader is shown, by both instances.
	type list struct {
		name string
		read func(s *Store) ([]Tweet, error)
	}
	feed := func(secret string, f Feed) func(s *Store) ([]Tweet, error) {
		return func(s *Store) ([]Tweet, error) {
			_, p, err := s.Timeline(ctx, secret, f, 0, 50)
			return p.Tweets, err
		}
	}
	lists := []list{
		{"the general timeline", feed("", General)},
		{"alice's timeline", feed(aliceSecret, Own)},
		{"bob's timeline", feed(bobSecret, Own)},
		{"carol's timeline (bob reposted it)", feed(carolSecret, Own)},
		{"alice's tweets", func(s *Store) ([]Tweet, error) {
			_, p, err := s.UserTweets(ctx, "", "alice", 0, 50)
			return p.Tweets, err
		}},
		{"the tag's page", func(s *Store) ([]Tweet, error) {
			_, p, err := s.TagTweets(ctx, "", "oops", 0, 50)
			return p.Tweets, err
		}},
	}
	shows := func(s *Store, l list, id string) bool {
		t.Helper()
		tweets, err := l.read(s)
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		return slices.ContainsFunc(tweets, func(tw Tweet) bool { return tw.ID == id })
	}
	for _, l := range lists {
		for _, st := range []*Store{s, other} { // both instances cache it
			if !shows(st, l, id) {
				t.Fatalf("before the deletion, %s does not show the tweet", l.name)
			}
		}
	}

	// Not by someone else, nor by nobody.
	if err := s.DeleteTweet(ctx, daveSecret, id); !errors.Is(err, ErrNotYourTweet) {
		t.Errorf("dave deleting alice's tweet: %v; want %v", err, ErrNotYourTweet)
	}
	if err := s.DeleteTweet(ctx, "", id); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("nobody deleting alice's tweet: %v; want %v", err, ErrNotLoggedIn)
	}
	for _, bad := range []string{"abc", "999999", "-1", ""} {
		if err := s.DeleteTweet(ctx, aliceSecret, bad); !errors.Is(err, ErrNoSuchTweet) {
			t.Errorf("deleting tweet %q: %v; want %v", bad, err, ErrNoSuchTweet)
		}
	}
	if !shows(other, lists[0], id) {
		t.Fatal("a refused deletion deleted the tweet")
	}
	// bob is told of the mention and carol's follow, alice of bob's reply
	// and follow, and of
	// the likes and the repost of the tweet; a reply of carol's, deleted,
	// tells alice nothing in the end.
	if n := mustUnread(t, s, bobSecret); n != 2 {
		t.Fatalf("bob has %d unread; want 2, the mention and carol's follow", n)
	}
	carols, err := s.Reply(ctx, carolSecret, kept, "@alice soon gone")
	if err != nil {
		t.Fatal(err)
	}
	if n := mustUnread(t, s, aliceSecret); n != 6 {
		t.Fatalf("alice has %d unread; want 6", n)
	}
	if err := s.DeleteTweet(ctx, carolSecret, carols); err != nil {
		t.Fatal(err)
	}
	if n := mustUnread(t, s, aliceSecret); n != 5 {
		t.Errorf("alice has %d unread after carol deleted her reply; want 5", n)
	}

	if err := s.DeleteTweet(ctx, aliceSecret, id); err != nil {
		t.Fatal(err)
	}
	// What the tweet gave rise to is taken back: the unread count no longer
	// counts notifications the page will not show.
	if n := mustUnread(t, s, bobSecret); n != 1 {
		t.Errorf("bob has %d unread after the tweet that mentioned him was deleted; want 1", n)
	}
	if n := mustUnread(t, s, aliceSecret); n != 2 {
		t.Errorf("alice has %d unread after deleting her tweet; want 2, bob's reply and follow", n)
	}
	// At once, before any fan-out worker ran, on both instances.
	for _, l := range lists {
		for i, st := range []*Store{s, other} {
			if shows(st, l, id) {
				t.Errorf("instance %d: %s still shows the deleted tweet", i+1, l.name)
			}
		}
	}
	if !shows(other, lists[0], kept) || !shows(other, lists[5], kept) {
		t.Error("the author's other tweet went with it")
	}
	if _, _, err := other.TweetConversation(ctx, "", id, 0, 10); !isNotFound(err) {
		t.Errorf("the deleted tweet's page: %v; want not found", err)
	}
	_, c, err := other.TweetConversation(ctx, "", reply, 0, 10)
	if err != nil || len(c.Ancestors) != 1 || c.Ancestors[0] != (Tweet{ID: id, Deleted: true}) ||
		c.Tweet.ReplyToUser != "" || c.Tweet.Body != "an answer" {
		t.Errorf("the reply's page: %+v, %v; want the reply, replying to a deleted tweet", c, err)
	}
	_, notes, _, err := s.Notifications(ctx, bobSecret, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		if n.Kind == NotifyMention {
			t.Errorf("bob is still told of the deleted tweet's mention: %+v", n)
		}
	}
	if err := s.Like(ctx, carolSecret, id, false); !errors.Is(err, ErrNoSuchTweet) {
		t.Errorf("unliking the deleted tweet: %v; want %v", err, ErrNoSuchTweet)
	}
	if _, err := s.Reply(ctx, carolSecret, id, "too late"); !errors.Is(err, ErrNoSuchTweet) {
		t.Errorf("replying to the deleted tweet: %v; want %v", err, ErrNoSuchTweet)
	}

	// Once the workers are done, no list pytwis reads holds it, and its
	// marks are gone; its hash is a tombstone pytwis can read.
	drain()
	if err := s.DeleteTweet(ctx, aliceSecret, id); err != nil {
		t.Errorf("deleting it again: %v; want nothing done", err)
	}
	drain()
	for _, key := range []string{"timeline", "timeline:" + alice, "timeline:" + bob, "timeline:" + carol,
		"tweets_by:" + alice, tagKey("oops"), repliesKey(id)} {
		if ids := rdb.LRange(ctx, key, 0, -1).Val(); slices.Contains(ids, id) {
			t.Errorf("%s still holds the deleted tweet: %v", key, ids)
		}
	}
	if ids := rdb.LRange(ctx, "tweets_by:"+alice, 0, -1).Val(); !slices.Contains(ids, kept) {
		t.Errorf("tweets_by:%s lost the other tweet: %v", alice, ids)
	}
	h := rdb.HGetAll(ctx, tweetKey(id)).Val()
	if h["userid"] != alice || h["unix_time"] == "" || h["body"] != "" || h[fieldDeleted] == "" {
		t.Errorf("tweet:%s is %v; want a tombstone: userid, unix_time, an empty body, %s", id, h, fieldDeleted)
	}
	for _, key := range []string{likesKey(id), repostsKey(id)} {
		if n := rdb.Exists(ctx, key).Val(); n != 0 {
			t.Errorf("%s is left", key)
		}
	}
	for _, key := range []string{likedKey(bob), likedKey(carol), repostedKey(bob)} {
		if rdb.SIsMember(ctx, key, id).Val() {
			t.Errorf("%s still holds the deleted tweet", key)
		}
	}
	if rdb.HExists(ctx, viaKey(carol), id).Val() {
		t.Error("carol's timeline keeps the deleted tweet's repost mark")
	}
	if n := count(rdb.HGet(ctx, tweetKey(id), fieldReplies).Val()); n != 1 {
		t.Errorf("the deleted tweet counts %d replies; want its reply's 1", n)
	}
}

func isNotFound(err error) bool {
	var refusal *Error
	return errors.As(err, &refusal) && refusal.Kind == NotFound
}

// TestConversationPastDeletedTweets: a tweet's page shows each deleted
// tweet above it as deleted, and the conversation above that still: a
// deleted reply in the middle of a thread hides none of it.
func TestConversationPastDeletedTweets(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	_, bobSecret := mustRegister(t, s, "bob")
	root := mustPost(t, s, alice, "the start")
	thread := []string{root}
	for _, by := range []string{bobSecret, aliceSecret, bobSecret} {
		id, err := s.Reply(ctx, by, thread[len(thread)-1], "and then")
		if err != nil {
			t.Fatal(err)
		}
		thread = append(thread, id)
	}
	// ancestors says what the last tweet's page shows above it: an id, or
	// "x" for a deleted tweet.
	ancestors := func() []string {
		t.Helper()
		_, c, err := s.TweetConversation(ctx, aliceSecret, thread[3], 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var shown []string
		for _, a := range c.Ancestors {
			switch {
			case a == (Tweet{ID: a.ID, Deleted: true}):
				shown = append(shown, "x")
			case a.Deleted || a.Body == "":
				t.Errorf("ancestor %s is half deleted: %+v", a.ID, a)
			default:
				shown = append(shown, a.ID)
			}
		}
		return shown
	}
	steps := []struct {
		delete, secret string
		want           []string
	}{
		{"", "", []string{thread[0], thread[1], thread[2]}},
		{thread[1], bobSecret, []string{thread[0], "x", thread[2]}},
		{thread[0], aliceSecret, []string{"x", "x", thread[2]}},
		{thread[2], aliceSecret, []string{"x", "x", "x"}},
	}
	for _, st := range steps {
		if st.delete != "" {
			if err := s.DeleteTweet(ctx, st.secret, st.delete); err != nil {
				t.Fatal(err)
			}
		}
		if got := ancestors(); !slices.Equal(got, st.want) {
			t.Errorf("after deleting %q, the page shows above the tweet %v; want %v", st.delete, got, st.want)
		}
	}
}

// TestDeleteDuringFanOut: a tweet deleted while its fan-out job runs (cut
// off after one chunk, as a worker killed there) reaches no more
// followers, and leaves none of its followers' timelines holding it.
func TestDeleteDuringFanOut(t *testing.T) {
	s, rdb := newStore(t)
	testDeleteDuringFanOut(t, s, rdb)
}

// TestDeleteDuringFanOutOnCluster is TestDeleteDuringFanOut on a Cluster.
func TestDeleteDuringFanOutOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	testDeleteDuringFanOut(t, s, rdb)
}

func testDeleteDuringFanOut(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	s.inlineFanOut = 10
	author, secret := mustRegister(t, s, "author")
	followers := addFollowers(t, rdb, author, 3*fanOutChunk)
	id := mustPost(t, s, author, "gone soon")
	job := nextJob(t, s, "w1")
	errStop := errors.New("stopped")
	stopAfterPush := fanOutHooks{afterStep: func(phase string) error {
		if phase == "push" {
			return errStop
		}
		return nil
	}}
	if err := s.runJob(ctx, "w1", job, stopAfterPush); !errors.Is(err, errStop) {
		t.Fatalf("the job's first chunk: %v", err)
	}
	on := 0
	for _, n := range timelineCounts(t, rdb, id, followers) {
		on += n
	}
	if on != fanOutChunk {
		t.Fatalf("after one chunk the tweet is on %d timelines; want %d", on, fanOutChunk)
	}
	if err := s.DeleteTweet(ctx, secret, id); err != nil {
		t.Fatal(err)
	}
	// The deletion's job first, then the rest of the post's: the worst
	// order.
	if err := s.runJob(ctx, "w2", nextJob(t, s, "w2"), fanOutHooks{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	for f, n := range timelineCounts(t, rdb, id, append(followers, author)) {
		if n != 0 {
			t.Errorf("timeline:%s holds the deleted tweet %d times", f, n)
		}
	}
	if n := rdb.XLen(ctx, keyFanOut).Val(); n != 0 {
		t.Errorf("%d jobs left in the stream", n)
	}
}

// addFollowers adds n users who follow author, in one pipeline, and
// returns their ids.
func addFollowers(t *testing.T, rdb redis.UniversalClient, author string, n int) []string {
	t.Helper()
	ctx := context.Background()
	first := rdb.IncrBy(ctx, "next_user_id", int64(n)).Val() - int64(n) + 1
	var ids []string
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			id := strconv.FormatInt(first+int64(i), 10)
			ids = append(ids, id)
			p.HSet(ctx, "users", "fan"+id, id)
			p.HSet(ctx, "user:"+id, "username", "fan"+id)
			p.ZAdd(ctx, "follower:"+author, redis.Z{Score: 1000, Member: id})
			p.ZAdd(ctx, "following:"+id, redis.Z{Score: 1000, Member: author})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
