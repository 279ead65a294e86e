package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestEditTweet: the author edits a tweet within the window: pytwis's body
// holds the new text and every instance shows it at once, with when it was
// edited; the earlier texts are kept, newest first; tags follow the text,
// the tweet in its place by id; people mentioned for the first time are
// told, nobody twice. Someone else, a bad text, a deleted tweet or an edit
// after the window are refused and change nothing.
func TestEditTweet(t *testing.T) {
	s, rdb := newStore(t)
	testEditTweet(t, s, New(rdb, testHasher, nil), rdb)
}

// TestEditTweetOnCluster is TestEditTweet on a Redis Cluster.
func TestEditTweetOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	testEditTweet(t, s, New(rdb, testHasher, nil), rdb)
}

func testEditTweet(t *testing.T, s, other *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	_, bobSecret := mustRegister(t, s, "bob")
	_, carolSecret := mustRegister(t, s, "carol")
	id := mustPost(t, s, alice, "helo @bob #old")
	newer := mustPost(t, s, alice, "a later one #new")
	shown := func(st *Store) Tweet {
		t.Helper()
		_, c, err := st.TweetConversation(ctx, "", id, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		return c.Tweet
	}
	for _, st := range []*Store{s, other} {
		shown(st) // cached on both
	}
	mentions := func(secret string) int {
		t.Helper()
		_, notes, _, err := s.Notifications(ctx, secret, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, note := range notes {
			if note.Kind == NotifyMention && note.Tweet != nil && note.Tweet.ID == id {
				n++
			}
		}
		return n
	}
	const window = 30 * time.Minute

	// Refusals change nothing.
	for _, c := range []struct {
		name, secret, id, body string
		want                   error
	}{
		{"someone else", bobSecret, id, "mine now", ErrNotYourTweet},
		{"nobody", "", id, "anyone's", ErrNotLoggedIn},
		{"no such tweet", aliceSecret, "999999", "x", ErrNoSuchTweet},
		{"not an id", aliceSecret, "x1", "x", ErrNoSuchTweet},
	} {
		if _, err := s.EditTweet(ctx, c.secret, c.id, c.body, window); !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}
	for _, body := range []string{"", "   ", strings.Repeat("x", MaxTweetLen+1)} {
		var refusal *Error
		if _, err := s.EditTweet(ctx, aliceSecret, id, body, window); !errors.As(err, &refusal) || refusal.Kind != Invalid {
			t.Errorf("editing to %q: %v; want a refusal of the text", body, err)
		}
	}
	if got := shown(other); got.Body != "helo @bob #old" || !got.Edited.IsZero() {
		t.Fatalf("after refusals the tweet is %q, edited %v", got.Body, got.Edited)
	}

	if changed, err := s.EditTweet(ctx, aliceSecret, id, "hello @bob and @carol #new", window); err != nil || !changed {
		t.Fatalf("the first edit: changed %v, %v", changed, err)
	}
	for i, st := range []*Store{s, other} {
		if got := shown(st); got.Body != "hello @bob and @carol #new" || got.Edited.IsZero() || got.Mentions != "bob carol" {
			t.Errorf("instance %d shows %q, edited %v, mentions %q", i+1, got.Body, got.Edited, got.Mentions)
		}
	}
	if body := rdb.HGet(ctx, tweetKey(id), "body").Val(); body != "hello @bob and @carol #new" {
		t.Errorf("pytwis reads the body %q", body)
	}
	tagged := func(tag string) []string {
		t.Helper()
		_, p, err := other.TagTweets(ctx, "", tag, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tw := range p.Tweets {
			ids = append(ids, tw.ID)
		}
		return ids
	}
	if got := tagged("old"); len(got) != 0 {
		t.Errorf("#old lists %v after the edit took it out", got)
	}
	if got := tagged("new"); !slices.Equal(got, []string{newer, id}) {
		t.Errorf("#new lists %v; want %v, newest first", got, []string{newer, id})
	}
	if b, c := mentions(bobSecret), mentions(carolSecret); b != 1 || c != 1 {
		t.Errorf("bob was told %d times, carol %d; want once each", b, c)
	}

	// Bob out, then in again: not told again. The same text: no edit, no
	// version.
	for i, body := range []string{"hello @carol #new", "hello @carol #new", "hello again @bob @carol #new"} {
		changed, err := s.EditTweet(ctx, aliceSecret, id, body, window)
		if err != nil {
			t.Fatal(err)
		}
		if want := i != 1; changed != want {
			t.Errorf("edit %d to %q: changed %v; want %v", i+1, body, changed, want)
		}
	}
	if b, c := mentions(bobSecret), mentions(carolSecret); b != 1 || c != 1 {
		t.Errorf("after more edits bob was told %d times, carol %d; want once each", b, c)
	}
	versions, err := other.Versions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, v := range versions {
		texts = append(texts, v.Body)
		if v.Time.IsZero() || time.Since(v.Time) > time.Minute {
			t.Errorf("version %q has the time %v", v.Body, v.Time)
		}
	}
	if want := []string{"hello @carol #new", "hello @bob and @carol #new", "helo @bob #old"}; !slices.Equal(texts, want) {
		t.Errorf("versions %q; want %q", texts, want)
	}

	// After the window: refused, as is a deleted tweet.
	rdb.HSet(ctx, tweetKey(id), "unix_time", strconv.FormatInt(time.Now().Add(-window-time.Minute).Unix(), 10))
	var refusal *Error
	if _, err := s.EditTweet(ctx, aliceSecret, id, "too late", window); !errors.As(err, &refusal) || refusal.Kind != Forbidden ||
		!strings.Contains(refusal.Msg, "30 minutes") {
		t.Errorf("an edit after the window: %v; want a refusal that names it", err)
	}
	if err := s.DeleteTweet(ctx, aliceSecret, newer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EditTweet(ctx, aliceSecret, newer, "back from the dead", window); !errors.Is(err, ErrNoSuchTweet) {
		t.Errorf("editing a deleted tweet: %v; want %v", err, ErrNoSuchTweet)
	}
	if body := rdb.HGet(ctx, tweetKey(id), "body").Val(); body != "hello again @bob @carol #new" {
		t.Errorf("after the refusals pytwis reads %q", body)
	}

	// An edit before the post's fan-out job ran (which on a Cluster lists
	// the post on its tags again, in case the post was cut off): the job
	// does not bring back the tag the edit took out.
	quick := mustPost(t, s, alice, "quick #first")
	if _, err := s.EditTweet(ctx, aliceSecret, quick, "quick #second", window); err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if got := tagged("first"); len(got) != 0 {
		t.Errorf("#first lists %v after an edit before the fan-out took it out", got)
	}
	if got := tagged("second"); !slices.Equal(got, []string{quick}) {
		t.Errorf("#second lists %v; want %v", got, []string{quick})
	}
}

func TestSpan(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "30 minutes"}, {time.Hour, "1 hour"}, {2 * time.Hour, "2 hours"},
		{90 * time.Second, "90 seconds"}, {time.Minute, "1 minute"}, {720 * time.Hour, "30 days"}, {36 * time.Hour, "36 hours"},
	} {
		if got := Span(c.d); got != c.want {
			t.Errorf("Span(%v) = %q; want %q", c.d, got, c.want)
		}
	}
}

// TestEditsAtOnce: two tabs save edits of one tweet at the same moment,
// again and again; after them the tweet's tag and word lists follow its
// last text, whatever order the edits' steps ran in. On one server and on
// a Cluster.
func TestEditsAtOnce(t *testing.T) {
	onBoth(t, testEditsAtOnce)
}

func testEditsAtOnce(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, secret := mustRegister(t, s, "alice")
	id := mustPost(t, s, alice, "hello #hi")
	texts := []string{"hello #hi", "bye #bye", "hello #bye", "bye #hi"}
	for round := range 100 {
		var tabs sync.WaitGroup
		for tab := range 2 {
			tabs.Go(func() {
				if _, err := s.EditTweet(ctx, secret, id, texts[(round+tab*(1+round%3))%len(texts)], DefaultEditWindow); err != nil {
					t.Error(err)
				}
			})
		}
		tabs.Wait()
		body := rdb.HGet(ctx, tweetKey(id), fieldTweetBody).Val()
		for _, l := range []struct {
			key  string
			want bool
		}{
			{tagKey("hi"), slices.Contains(tagsOf(body), "hi")},
			{tagKey("bye"), slices.Contains(tagsOf(body), "bye")},
			{wordKey("hello"), slices.Contains(wordsOf(body), "hello")},
			{wordKey("bye"), slices.Contains(wordsOf(body), "bye")},
		} {
			if listed := rdb.LPos(ctx, l.key, id, redis.LPosArgs{}).Err() == nil; listed != l.want {
				t.Fatalf("round %d: the text is %q, and %s lists the tweet: %v", round, body, l.key, listed)
			}
		}
	}
}

// TestEditCutShortFinishedBySavingAgain: an edit that a failure cut short
// after the text changed (Redis gone, or full, before the lists followed)
// is finished by saving the same text again, as a user does after the
// error: the tags' and words' lists, and every instance's cached tweet,
// follow the text. That save changed nothing before.
func TestEditCutShortFinishedBySavingAgain(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, secret := mustRegister(t, s, "alice")
		id := mustPost(t, s, alice, "first words #before")
		for {
			if n, err := s.IndexSearch(ctx); err != nil || n == 0 {
				break
			}
		}
		if !slices.Contains(rdb.LRange(ctx, wordKey("first"), 0, -1).Val(), id) {
			t.Fatal("the tweet's words are not indexed")
		}
		other := New(rdb, testHasher, nil) // another instance, which has read the tweet
		if _, _, err := other.TweetConversation(ctx, "", id, 0, 10); err != nil {
			t.Fatal(err)
		}
		// The edit's first step alone.
		if err := editScript.Run(ctx, rdb, []string{tweetKey(id), versionsKey(id), mentionedKey(id)},
			alice, "second text #after", "", time.Now().Unix(), time.Now().Add(-time.Hour).Unix()).Err(); err != nil {
			t.Fatal(err)
		}
		changed, err := s.EditTweet(ctx, secret, id, "second text #after", DefaultEditWindow)
		if err != nil || changed {
			t.Fatalf("saved again: changed %v, %v; want no change", changed, err)
		}
		for key, want := range map[string]bool{tagKey("after"): true, tagKey("before"): false,
			wordKey("second"): true, wordKey("after"): true, wordKey("first"): false, wordKey("before"): false} {
			if got := slices.Contains(rdb.LRange(ctx, key, 0, -1).Val(), id); got != want {
				t.Errorf("%s lists the tweet: %v; want %v", key, got, want)
			}
		}
		if _, c, err := other.TweetConversation(ctx, "", id, 0, 10); err != nil || c.Tweet.Body != "second text #after" {
			t.Errorf("the other instance shows %q, %v", c.Tweet.Body, err)
		}
		// Finished, it is no longer marked; saving again does nothing.
		if rdb.HExists(ctx, tweetKey(id), fieldEditing).Val() {
			t.Error("the finished edit is still marked")
		}
		if changed, err := s.EditTweet(ctx, secret, id, "second text #after", DefaultEditWindow); err != nil || changed {
			t.Fatalf("saved a third time: changed %v, %v", changed, err)
		}
		if n := rdb.LLen(ctx, tagKey("after")).Val(); n != 1 {
			t.Errorf("#after lists %d entries; want 1", n)
		}
	})
}
