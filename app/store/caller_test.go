package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// hookOn is a go-redis hook that calls fn before each command (in a
// pipeline or not) that match reports true for; an error from fn fails the
// command (its pipeline: every command in it) instead of sending it.
type hookOn struct {
	match func(redis.Cmder) bool
	fn    func() error
}

func (h hookOn) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hookOn) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.match(cmd) {
			if err := h.fn(); err != nil {
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func (h hookOn) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.match(cmd) {
				if err := h.fn(); err != nil {
					for _, c := range cmds {
						c.SetErr(err)
					}
					return err
				}
				break
			}
		}
		return next(ctx, cmds)
	}
}

// command reports whether cmd is name (lower case) on key.
func command(cmd redis.Cmder, name, key string) bool {
	args := cmd.Args()
	return cmd.Name() == name && len(args) > 1 && fmt.Sprint(args[1]) == key
}

// TestChangesOutliveTheirCaller: a change whose caller goes away half way
// (a browser closed, the client's context ended) is made whole all the
// same, where asking again could not finish it: follows, posts, likes,
// reposts, tweet deletions, edits, password changes and the mailed
// links. (Account deletion: TestDeleteAccountCutShort.)
func TestChangesOutliveTheirCaller(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	var mu sync.Mutex
	var cancelAt func(redis.Cmder) bool
	var cancel context.CancelFunc
	rdb.AddHook(hookOn{
		match: func(c redis.Cmder) bool { mu.Lock(); defer mu.Unlock(); return cancelAt != nil && cancelAt(c) },
		fn:    func() error { mu.Lock(); defer mu.Unlock(); cancel(); cancelAt = nil; return nil },
	})
	// cut returns a context that ends just before the first command that
	// at matches.
	cut := func(at func(redis.Cmder) bool) context.Context {
		mu.Lock()
		defer mu.Unlock()
		var cctx context.Context
		cctx, cancel = context.WithCancel(ctx)
		cancelAt = at
		return cctx
	}
	// cutHappened fails the test when ctx (from cut) never ended: the
	// command it was to end before was not sent.
	cutHappened := func(ctx context.Context, what string) {
		t.Helper()
		if ctx.Err() == nil {
			t.Errorf("%s: the caller's context was never cut", what)
		}
	}
	atGeneration := func(c redis.Cmder) bool { return command(c, "set", keyGeneration) }
	listed := func(key, id string) bool { return slices.Contains(rdb.LRange(ctx, key, 0, -1).Val(), id) }

	bob, _ := mustRegister(t, s, "bob")
	carol, _ := mustRegister(t, s, "carol")
	if err := s.Follow(ctx, carol, "alice"); err != nil {
		t.Fatal(err)
	}
	toldBob := func() int64 { return rdb.LLen(ctx, notificationsKey(bob)).Val() }
	atBobsNotices := func(c redis.Cmder) bool { // noticeScript's EVAL on bob's list
		a := c.Args()
		return c.Name() == "eval" && len(a) > 3 && fmt.Sprint(a[3]) == notificationsKey(bob)
	}
	cctx := cut(atBobsNotices)
	if err := s.Follow(cctx, alice, "bob"); err != nil {
		t.Errorf("Follow: %v", err)
	}
	cutHappened(cctx, "Follow")
	if toldBob() != 1 {
		t.Error("the follow's notice stopped with its caller")
	}
	cctx = cut(atBobsNotices)
	if _, err := s.PostAs(cctx, aliceSecret, "hello @bob"); err != nil {
		t.Errorf("PostAs: %v", err)
	}
	cutHappened(cctx, "PostAs")
	if toldBob() != 2 {
		t.Error("the post's mention stopped with its caller")
	}

	bobs := mustPost(t, s, bob, "bob's")
	cctx = cut(func(c redis.Cmder) bool { return command(c, "sadd", likedKey(alice)) })
	if err := s.Like(cctx, aliceSecret, bobs, true); err != nil {
		t.Errorf("Like: %v", err)
	}
	cutHappened(cctx, "Like")
	if !rdb.SIsMember(ctx, likedKey(alice), bobs).Val() || toldBob() != 3 {
		t.Error("the like stopped with its caller")
	}
	cctx = cut(func(c redis.Cmder) bool { return command(c, "sadd", repostedKey(alice)) })
	if err := s.Repost(cctx, aliceSecret, bobs, true); err != nil {
		t.Errorf("Repost: %v", err)
	}
	cutHappened(cctx, "Repost")
	if !rdb.SIsMember(ctx, repostedKey(alice), bobs).Val() || !listed(timelineKey(carol), bobs) {
		t.Error("the repost stopped with its caller")
	}

	gone := mustPost(t, s, alice, "bye #gone")
	cctx = cut(atGeneration)
	if err := s.DeleteTweet(cctx, aliceSecret, gone); err != nil {
		t.Errorf("DeleteTweet: %v", err)
	}
	cutHappened(cctx, "DeleteTweet")
	if listed(tweetsByKey(alice), gone) || listed(tagKey("gone"), gone) || rdb.HGet(ctx, tweetKey(gone), "body").Val() != "" {
		t.Error("the deletion stopped with its caller")
	}

	edited := mustPost(t, s, alice, "hello #old")
	cctx = cut(atGeneration)
	if _, err := s.EditTweet(cctx, aliceSecret, edited, "hello #new", DefaultEditWindow); err != nil {
		t.Errorf("EditTweet: %v", err)
	}
	cutHappened(cctx, "EditTweet")
	if listed(tagKey("old"), edited) || !listed(tagKey("new"), edited) {
		t.Error("the edit's tags stopped with its caller")
	}

	confirm, err := s.AddressToken(ctx, aliceSecret, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	cctx = cut(func(c redis.Cmder) bool { return command(c, "set", emailUserKey("alice@example.com")) })
	if _, err := s.ConfirmAddress(cctx, confirm); err != nil {
		t.Errorf("ConfirmAddress: %v", err)
	}
	cutHappened(cctx, "ConfirmAddress")
	if a, _ := s.AddressOf(ctx, alice); a != "alice@example.com" {
		t.Errorf("the address after its link was used: %q", a)
	}

	isEnd := func(values []any) bool {
		for i := 0; i+1 < len(values); i++ {
			if values[i] == "k" && values[i+1] == live.KindEnd {
				return true
			}
		}
		return false
	}
	ends := func() int {
		n := 0
		for _, m := range rdb.XRange(ctx, live.Key, "-", "+").Val() {
			if m.Values["k"] == live.KindEnd {
				n++
			}
		}
		return n
	}
	before := ends()
	cctx = cut(func(c redis.Cmder) bool { return c.Name() == "xadd" && isEnd(c.Args()) })
	if _, err := s.ChangePassword(cctx, "", aliceSecret, "Passw0rd!", "Chang3d-Passw0rd"); err != nil {
		t.Errorf("ChangePassword: %v", err)
	}
	cutHappened(cctx, "ChangePassword")
	if ends() != before+1 {
		t.Error("the end of the sessions that a password change ends stopped with its caller")
	}

	_, reset, err := s.ResetToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cctx = cut(func(c redis.Cmder) bool { return command(c, "hmget", userKey(alice)) })
	if err := s.ResetPassword(cctx, "", reset, "N3w-Passw0rd"); err != nil {
		t.Errorf("ResetPassword: %v", err)
	}
	cutHappened(cctx, "ResetPassword")
	if _, err := s.Login(ctx, "", "alice", "N3w-Passw0rd"); err != nil {
		t.Errorf("signing in with the password of the used link: %v", err)
	}
}

// TestNothingBegunForNobody: a change whose caller has gone before it
// began changes nothing.
func TestNothingBegunForNobody(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	tweet := mustPost(t, s, alice, "stays")
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"PostAs", func() error { _, err := s.PostAs(gone, aliceSecret, "never"); return err }},
		{"Like", func() error { return s.Like(gone, aliceSecret, tweet, true) }},
		{"DeleteTweet", func() error { return s.DeleteTweet(gone, aliceSecret, tweet) }},
		{"DeleteAccount", func() error { return s.DeleteAccount(gone, "", aliceSecret, "Passw0rd!", DefaultNameHold) }},
	} {
		if err := c.do(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s for a caller gone: %v; want %v", c.name, err, context.Canceled)
		}
	}
	if ids := rdb.LRange(ctx, tweetsByKey(alice), 0, -1).Val(); !slices.Equal(ids, []string{tweet}) {
		t.Errorf("alice's tweets: %v; want only %s", ids, tweet)
	}
	if rdb.HExists(ctx, tweetKey(tweet), fieldDeleted).Val() || rdb.SCard(ctx, likedKey(alice)).Val() != 0 {
		t.Error("the tweet was deleted or liked")
	}
	if _, err := s.Authenticate(ctx, aliceSecret); err != nil {
		t.Errorf("alice after the requests: %v", err)
	}
}
