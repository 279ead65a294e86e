package store

import (
	"context"
	"errors"
	"fmt"
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
	root, err := s.Post(ctx, alice, "a question")
	if err != nil {
		t.Fatal(err)
	}
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

	// pytwis's three fields, and pytwask's own.
	h := rdb.HGetAll(ctx, "tweet:"+answer).Val()
	if h["body"] != "an answer" || h["userid"] == "" || h["unix_time"] == "" || h["pytwask_reply_to"] != root || len(h) != 4 {
		t.Errorf("tweet:%s = %v", answer, h)
	}

	_, c, err := s.TweetConversation(ctx, "", answer, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tweet.ID != answer || c.Tweet.ReplyTo != root || c.Tweet.ReplyToUser != "alice" || c.Tweet.Username != "bob" {
		t.Errorf("the answer: %+v", c.Tweet)
	}
	if len(c.Ancestors) != 1 || c.Ancestors[0].ID != root || c.ParentGone {
		t.Errorf("the answer's ancestors: %+v", c.Ancestors)
	}
	if len(c.Replies.Tweets) != 1 || c.Replies.Tweets[0].ID != thanks || c.ReplyCount != 1 {
		t.Errorf("the answer's replies: %+v (%d)", c.Replies, c.ReplyCount)
	}
	_, c, err = s.TweetConversation(ctx, "", root, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ancestors) != 0 || c.ReplyCount != 2 || len(c.Replies.Tweets) != 1 || c.Replies.Tweets[0].ID != other || !c.Replies.More {
		t.Errorf("the question's first page of replies: %+v (%d)", c.Replies, c.ReplyCount)
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

	// A reply whose parent is gone says so. (Nothing deletes tweets yet:
	// the hash is deleted by hand, and read by a store whose in-process
	// cache never saw it.)
	rdb.Del(ctx, "tweet:"+answer)
	_, c, err = New(rdb, testHasher, nil).TweetConversation(ctx, "", thanks, 0, 10)
	if err != nil || !c.ParentGone || len(c.Ancestors) != 0 || c.Tweet.ReplyTo != answer || c.Tweet.ReplyToUser != "" {
		t.Errorf("a reply to a gone tweet: %+v, %v", c, err)
	}
}

// TestLikes: a like counts once however often sent, concurrently too: 100
// users liking one tweet at once make 100 likes, and one user's many at
// once make one. Taking it back counts down; a tweet that does not exist
// cannot be liked.
func TestLikes(t *testing.T) {
	s, _ := newStore(t)
	testLikes(t, s)
}

// TestLikesOnCluster is TestLikes on a Redis Cluster.
func TestLikesOnCluster(t *testing.T) {
	s, _, _ := clusterStore(t)
	testLikes(t, s)
}

func testLikes(t *testing.T, s *Store) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	id, err := s.Post(ctx, alice, "like me")
	if err != nil {
		t.Fatal(err)
	}
	secrets := make([]string, 100)
	for i := range secrets {
		_, secrets[i] = mustRegister(t, s, fmt.Sprintf("fan%d", i))
	}
	var wg sync.WaitGroup
	for _, secret := range secrets {
		wg.Go(func() {
			if err := s.Like(ctx, secret, id, true); err != nil {
				t.Error(err)
			}
		})
	}
	for range 20 { // alice, many times at once
		wg.Go(func() {
			if err := s.Like(ctx, aliceSecret, id, true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	_, c, err := s.TweetConversation(ctx, aliceSecret, id, 0, 10)
	if err != nil || c.Likes != 101 || !c.ViewerLikes {
		t.Errorf("likes after 100 users and alice 20 times: %d (alice likes: %v), %v", c.Likes, c.ViewerLikes, err)
	}
	if err := s.Like(ctx, aliceSecret, id, false); err != nil {
		t.Fatal(err)
	}
	if _, c, _ := s.TweetConversation(ctx, aliceSecret, id, 0, 10); c.Likes != 100 || c.ViewerLikes {
		t.Errorf("after alice took hers back: %d (alice likes: %v)", c.Likes, c.ViewerLikes)
	}
	if err := s.Like(ctx, aliceSecret, "999999", true); !errors.Is(err, ErrNoSuchTweet) {
		t.Errorf("liking a tweet that does not exist: %v", err)
	}
	if err := s.Like(ctx, "no-such-secret", id, true); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("liking without a session: %v", err)
	}
}

// TestNotifications: a mention, a reply, a follow and a first like each
// tell the user concerned once (never the actor; a reply that mentions
// its parent's author tells them once); reading clears the unread count.
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
	root, err := s.Post(ctx, alice, "hello @bob and @alice")
	if err != nil {
		t.Fatal(err)
	}
	reply, err := s.Reply(ctx, bobSecret, root, "hi @ALICE") // a reply that mentions: once
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
	v, _ := s.Authenticate(ctx, aliceSecret)
	if v.Unread != 3 {
		t.Errorf("alice has %d unread; want 3 (the mention in the reply, the follow, the like)", v.Unread)
	}
	_, items, more, err := s.Notifications(ctx, aliceSecret, 0, 10)
	if err != nil || more || len(items) != 3 {
		t.Fatalf("alice's notifications: %+v, %v, %v", items, more, err)
	}
	for i, want := range []struct{ kind, actor, tweet string }{{NotifyLike, "bob", root}, {NotifyFollow, "bob", ""}, {NotifyMention, "bob", reply}} {
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
	if _, _, _, err := s.Notifications(ctx, "nobody", 0, 10); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("notifications of nobody: %v", err)
	}
}
