package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestDeleteAccount: with the right password, an account's tweets, follows
// both ways, likes, reposts, notifications and sessions go; replies by
// others stay, replying to a deleted account; the name is held (in any
// case) until the hold ends, and pytwis still finds a name for the
// deleted user's tombstones. A wrong password changes nothing.
func TestDeleteAccount(t *testing.T) {
	s, rdb := newStore(t)
	testDeleteAccount(t, s, rdb)
	testActingWhileDeleted(t, s, rdb)
}

// TestDeleteAccountOnCluster is TestDeleteAccount on a Redis Cluster.
func TestDeleteAccountOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	s.inlineFanOut = 1
	testDeleteAccount(t, s, rdb)
	testActingWhileDeleted(t, s, rdb)
}

// An account with more tweets, likes and reposts than one step deletes at
// once, and more tweets than a timeline holds, goes in a number of round
// trips that does not grow with them (a round trip per tweet took seconds
// for a few thousand), in requests of a bounded size (a few thousand
// tweets and followers once overran the client's timeout, and the
// deletion stopped half way), and without a job per tweet for its
// followers; and it leaves nothing behind: no listed tweet, no count, no
// mention, no tweet or repost on a follower's timeline.
func TestDeleteBusyAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		busy, busySecret := mustRegister(t, s, "busy")
		other, _ := mustRegister(t, s, "other")
		fan, fanSecret := mustRegister(t, s, "fan0") // mentioned in every tweet
		followers := []string{fan}
		for i := range 59 {
			f, _ := mustRegister(t, s, fmt.Sprintf("fan%d", i+1))
			followers = append(followers, f)
		}
		for _, f := range followers {
			if err := s.Follow(ctx, f, "busy"); err != nil {
				t.Fatal(err)
			}
		}
		const tweets, marks = UserTimelineCap + UserTimelineSlack + 100, fanOutChunk + 20
		var theirs []string
		for i := range marks {
			theirs = append(theirs, mustPost(t, s, other, fmt.Sprintf("other's %d", i)))
		}
		for i, id := range theirs {
			if err := s.Like(ctx, busySecret, id, true); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				if err := s.Repost(ctx, busySecret, id, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range tweets {
			if i%3 == 0 {
				if _, err := s.Reply(ctx, busySecret, theirs[i%marks], fmt.Sprintf("busy answers @fan0 #busy %d", i)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			mustPost(t, s, busy, fmt.Sprintf("busy says @fan0 #busy %d", i))
		}
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		// More mentions than a user keeps: as many unread as kept.
		if n, kept := mustUnread(t, s, fanSecret), rdb.LLen(ctx, notificationsKey(fan)).Val(); n != NotificationsCap || kept != NotificationsCap {
			t.Fatalf("fan0 has %d unread of %d notifications; want %d of %d", n, kept, NotificationsCap, NotificationsCap)
		}

		before, jobs := s.RoundTrips(), rdb.XLen(ctx, keyFanOut).Val()
		sizes := &requestSizes{}
		rdb.AddHook(sizes)
		if err := s.DeleteAccount(ctx, "", busySecret, "Passw0rd!", 0); err != nil {
			t.Fatal(err)
		}
		if n := s.RoundTrips() - before; n > 100 {
			t.Errorf("deleting %d tweets, %d likes and %d reposts took %d round trips; want at most 100", tweets, marks, marks/10+1, n)
		}
		if most, one := sizes.request.Load(), sizes.command.Load(); most > purgeArgs+5000 || one > UserTimelineCap+UserTimelineSlack+10 {
			t.Errorf("the deletion sent requests of up to %d arguments, a command of %d; want at most %d and %d",
				most, one, purgeArgs+5000, UserTimelineCap+UserTimelineSlack+10)
		}
		if n := rdb.XLen(ctx, keyFanOut).Val() - jobs; n > marks/10+1 {
			t.Errorf("the deletion started %d fan-out jobs; want at most one a repost (%d)", n, marks/10+1)
		}
		(&world{t: t, s: s}).drain() // the fan-out jobs, and the search index
		checkWhole(t, rdb, "after the deletion")
		keys := []string{tagKey("busy"), repliesKey(theirs[0]), notificationsKey(other), notificationsKey(fan)}
		for _, f := range followers {
			keys = append(keys, timelineKey(f))
		}
		for _, key := range keys {
			if l := rdb.LRange(ctx, key, 0, -1).Val(); len(l) > 0 {
				t.Errorf("%s still holds %d entries, the first %q", key, len(l), l[0])
			}
		}
		for _, id := range rdb.LRange(ctx, keyGeneralTimeline, 0, -1).Val() {
			if author := rdb.HGet(ctx, tweetKey(id), fieldTweetUserID).Val(); author != other {
				t.Fatalf("the general timeline holds tweet %s by user %s", id, author)
			}
		}
		if n := mustUnread(t, s, fanSecret); n != 0 {
			t.Errorf("fan0 has %d unread after busy left; want 0", n)
		}
		for _, id := range theirs {
			if c := rdb.HMGet(ctx, tweetKey(id), fieldReplies, fieldReposts, fieldLikes).Val(); count(c[0])+count(c[1])+count(c[2]) != 0 {
				t.Fatalf("other's tweet %s counts %v after busy left; want none", id, c)
			}
		}
	})
}

// requestSizes is a client hook that keeps the most arguments one request
// to Redis (a command, or a pipeline of them) carried, and one command.
type requestSizes struct{ request, command atomic.Int64 }

func (h *requestSizes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *requestSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.see(cmd)
		return next(ctx, cmd)
	}
}

func (h *requestSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.see(cmds...)
		return next(ctx, cmds)
	}
}

func (h *requestSizes) see(cmds ...redis.Cmder) {
	n := 0
	for _, c := range cmds {
		n += len(c.Args())
		atomicMax(&h.command, int64(len(c.Args())))
	}
	atomicMax(&h.request, int64(n))
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		if old := a.Load(); v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// testActingWhileDeleted: a follow, a like, a repost, an edit or a reply
// whose session was checked just before the account's deletion began
// (marked deleted, the session still there, as between the two) leaves
// nothing behind that the deletion, reading after its mark, would miss.
func testActingWhileDeleted(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	dora, doraSecret := mustRegister(t, s, "dora")
	eve, eveSecret := mustRegister(t, s, "eve")
	finn, _ := mustRegister(t, s, "finn")
	evesTweet := mustPost(t, s, eve, "eve's")
	dorasTweet := mustPost(t, s, dora, "dora's")
	rdb.HSet(ctx, userKey(dora), fieldDeleted, time.Now().Unix())

	if err := s.Follow(ctx, dora, "eve"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("a follow by an account being deleted: %v; want %v", err, ErrNotLoggedIn)
	}
	for _, mark := range []func(context.Context, string, string, bool) error{s.Like, s.Repost} {
		if err := mark(ctx, doraSecret, evesTweet, true); !errors.Is(err, ErrNotLoggedIn) {
			t.Errorf("a like or repost by an account being deleted: %v; want %v", err, ErrNotLoggedIn)
		}
	}
	if _, err := s.EditTweet(ctx, doraSecret, dorasTweet, "dora's @finn #late", DefaultEditWindow); err != nil {
		t.Fatal(err)
	}
	// A reply and a post written then. On one server the post script
	// checks the session and lists the tweet at once, where the deletion
	// finds it (the notices are taken back by notify, the tag by the
	// deletion: here, by hand); on a Cluster a post is several steps, and
	// deletes itself when it finds the account marked.
	for _, post := range []func() (string, error){
		func() (string, error) { return s.Reply(ctx, doraSecret, evesTweet, "@finn and eve") },
		func() (string, error) { return s.PostAs(ctx, doraSecret, "a post #late") },
	} {
		id, err := post()
		switch {
		case err == nil && !s.sharded:
			if !slices.Contains(rdb.LRange(ctx, tweetsByKey(dora), 0, -1).Val(), id) {
				t.Errorf("dora's tweet %s is not among her tweets", id)
			}
			rdb.LRem(ctx, tagKey("late"), 0, id)
		case errors.Is(err, ErrNotLoggedIn) && s.sharded:
		default:
			t.Errorf("a post by an account being deleted: %q, %v", id, err)
		}
	}
	// Notices to an account whose deletion has begun (here, as after it
	// removed the notifications): eve's like of gus's tweet, her reply to
	// it. And her follow of it, refused.
	gus, _ := mustRegister(t, s, "gus")
	gussTweet := mustPost(t, s, gus, "gus's")
	rdb.HSet(ctx, userKey(gus), fieldDeleted, time.Now().Unix())
	if err := s.Like(ctx, eveSecret, gussTweet, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reply(ctx, eveSecret, gussTweet, "hi gus"); err != nil {
		t.Fatal(err)
	}
	if err := s.Follow(ctx, eve, "gus"); !isKind(err, NotFound) {
		t.Errorf("a follow of an account being deleted: %v; want a refusal", err)
	}
	for _, k := range []string{followerKey(eve), followingKey(dora), likesKey(evesTweet), repostsKey(evesTweet),
		likedKey(dora), repostedKey(dora), notificationsKey(eve), notificationsKey(finn), tagKey("late"), wordKey("late"),
		notificationsKey(gus), unreadKey(gus), followerKey(gus), followingKey(eve)} {
		if n := rdb.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s is left: %v", k, rdb.Type(ctx, k).Val())
		}
	}
	if c := rdb.HMGet(ctx, tweetKey(evesTweet), fieldLikes, fieldReposts).Val(); count(c[0]) != 0 || count(c[1]) != 0 {
		t.Errorf("eve's tweet counts %v likes and reposts", c)
	}
}

func testDeleteAccount(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")       // follows alice
	carol, carolSecret := mustRegister(t, s, "carol") // followed by alice
	for _, f := range []struct{ who, whom string }{{bob, "alice"}, {alice, "carol"}} {
		if err := s.Follow(ctx, f.who, f.whom); err != nil {
			t.Fatal(err)
		}
	}
	mine := mustPost(t, s, alice, "mine #gone @bob")
	reply, err := s.Reply(ctx, bobSecret, mine, "a reply that stays")
	if err != nil {
		t.Fatal(err)
	}
	theirs := mustPost(t, s, carol, "carol's")
	if err := s.Like(ctx, aliceSecret, theirs, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Repost(ctx, aliceSecret, theirs, true); err != nil { // onto bob's timeline
		t.Fatal(err)
	}
	if _, err := s.Reply(ctx, carolSecret, mine, "hi @alice"); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		t.Helper()
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// A confirmed address, and a link for another one that she opens only
	// after her account is gone.
	confirm, err := s.AddressToken(ctx, aliceSecret, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmAddress(ctx, confirm); err != nil {
		t.Fatal(err)
	}
	late, err := s.AddressToken(ctx, aliceSecret, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	drain()
	a, err := s.AccountOf(ctx, "alice")
	if err != nil || a.Tweets != 1 || a.Followers != 1 || a.Following != 1 || a.Likes != 1 || a.Reposts != 1 || a.Notifications < 2 {
		t.Errorf("AccountOf(alice) = %+v, %v", a, err)
	}

	if err := s.DeleteAccount(ctx, "", aliceSecret, "Wr0ng-password", DefaultNameHold); !errors.Is(err, ErrIncorrectPassword) {
		t.Fatalf("a wrong password: %v; want %v", err, ErrIncorrectPassword)
	}
	if _, err := s.Authenticate(ctx, aliceSecret); err != nil {
		t.Fatalf("a refused deletion ended the session: %v", err)
	}
	if bobs, carols := mustUnread(t, s, bobSecret), mustUnread(t, s, carolSecret); bobs != 1 || carols != 3 {
		t.Fatalf("bob has %d unread, carol %d; want 1 (alice's mention) and 3 (her follow, like and repost)", bobs, carols)
	}
	if err := s.DeleteAccount(ctx, "", aliceSecret, "Passw0rd!", DefaultNameHold); err != nil {
		t.Fatal(err)
	}
	drain()
	// On one server, the folded names' count follows users, so that the
	// next sign-up need not fold every name again.
	if counted, users := rdb.Get(ctx, keyFoldedCount).Val(), rdb.HLen(ctx, keyUsers).Val(); !s.sharded && counted != strconv.FormatInt(users, 10) {
		t.Errorf("after the deletion, %s is %s for %d users", keyFoldedCount, counted, users)
	}
	// What she told others of is taken back, with their unread counts.
	for _, u := range []struct{ id, secret string }{{bob, bobSecret}, {carol, carolSecret}} {
		for _, e := range rdb.LRange(ctx, notificationsKey(u.id), 0, -1).Val() {
			if strings.Fields(e)[1] == alice {
				t.Errorf("user %s is still told %q", u.id, e)
			}
		}
		if n := mustUnread(t, s, u.secret); n != 0 {
			t.Errorf("user %s has %d unread after alice left; want 0", u.id, n)
		}
	}

	if _, err := s.Authenticate(ctx, aliceSecret); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("the deleted user's session: %v; want %v", err, ErrNotLoggedIn)
	}
	if _, err := s.Login(ctx, "", "alice", "Passw0rd!"); err == nil {
		t.Error("the deleted user signs in")
	}
	for _, name := range []string{"alice", "ALICE"} {
		if err := s.Register(ctx, name, "Passw0rd!"); !errors.Is(err, ErrNameReserved) {
			t.Errorf("registering %s: %v; want %v", name, err, ErrNameReserved)
		}
	}
	ids := func(p Page) []string {
		var out []string
		for _, tw := range p.Tweets {
			out = append(out, tw.ID)
		}
		return out
	}
	_, bobs, err := s.Timeline(ctx, bobSecret, Own, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(bobs); slices.Contains(got, mine) || slices.Contains(got, theirs) {
		t.Errorf("bob's timeline %v still holds alice's tweet or her repost", got)
	}
	for _, key := range []string{"timeline:" + bob, "timeline"} {
		if l := rdb.LRange(ctx, key, 0, -1).Val(); slices.Contains(l, mine) || key != "timeline" && slices.Contains(l, theirs) {
			t.Errorf("%s holds %v", key, l)
		}
	}
	_, c, err := s.TweetConversation(ctx, "", theirs, 0, 10)
	if err != nil || c.Tweet.Likes != 0 || c.Tweet.Reposts != 0 {
		t.Errorf("carol's tweet after alice left: %d likes, %d reposts (%v); want none", c.Tweet.Likes, c.Tweet.Reposts, err)
	}
	_, c, err = s.TweetConversation(ctx, "", reply, 0, 10)
	if err != nil || c.Tweet.ReplyToUser != "-" || c.Tweet.Body != "a reply that stays" {
		t.Errorf("bob's reply: %+v, %v; want it, replying to a deleted account", c.Tweet, err)
	}
	if f, err := s.Followers(ctx, carol); err != nil || len(f) != 0 {
		t.Errorf("carol's followers: %v, %v; want none", f, err)
	}
	if f, err := s.Following(ctx, bob); err != nil || len(f) != 0 {
		t.Errorf("bob follows %v, %v; want nobody", f, err)
	}
	if u := rdb.HGetAll(ctx, "user:"+alice).Val(); len(u) != 2 || u["username"] != "alice" || u[fieldDeleted] == "" {
		t.Errorf("user:%s is %v; want the name alone, for pytwis, and %s", alice, u, fieldDeleted)
	}
	for _, key := range []string{"timeline:" + alice, "tweets_by:" + alice, "follower:" + alice, "following:" + alice,
		notificationsKey(alice), likedKey(alice), repostedKey(alice)} {
		if rdb.Exists(ctx, key).Val() != 0 {
			t.Errorf("%s is left", key)
		}
	}
	if _, err := s.ConfirmAddress(ctx, late); !errors.Is(err, ErrBadLink) {
		t.Errorf("confirming an address for the deleted account: %v; want %v", err, ErrBadLink)
	}
	for _, key := range []string{emailKey(alice), emailUserKey("alice@example.com"), emailUserKey("alice@example.org")} {
		if rdb.Exists(ctx, key).Val() != 0 {
			t.Errorf("%s is left", key)
		}
	}
	if bobs, err := s.AddressToken(ctx, bobSecret, "alice@example.com"); err != nil {
		t.Error(err)
	} else if _, err := s.ConfirmAddress(ctx, bobs); err != nil {
		t.Errorf("bob confirming the address alice had: %v", err)
	}
	if rdb.HExists(ctx, "users", "alice").Val() || rdb.HExists(ctx, keyFoldedNames, FoldUsername("alice")).Val() {
		t.Error("the name is still in users or the folded names")
	}
	query, _ := ParseQuery("alice")
	if names, err := s.SearchUsers(ctx, query); err != nil || len(names) != 0 {
		t.Errorf("a search for alice finds %v, %v", names, err)
	}

	// An operator's deletion, by name, with a short hold: the name is free
	// again after it.
	if err := s.DeleteUser(ctx, "carol", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "carol", time.Second); !isNotFound(err) {
		t.Errorf("deleting carol again: %v; want not found", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := s.Register(ctx, "carol", "Passw0rd!"); err != nil {
		t.Errorf("registering carol after the hold: %v", err)
	}
}

// TestDeleteAccountCutShort: a deletion goes on to its end when its
// caller goes away (a browser closed mid-way), and one that Redis cut
// short is finished by an operator's deleteuser of the name.
func TestDeleteAccountCutShort(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	bob, _ := mustRegister(t, s, "bob")
	setUp := func(name string) (id, secret string) {
		t.Helper()
		id, secret = mustRegister(t, s, name)
		if err := s.Follow(ctx, id, "bob"); err != nil {
			t.Fatal(err)
		}
		mustPost(t, s, id, "a tweet of "+name)
		return id, secret
	}
	gone := func(name, id string) {
		t.Helper()
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{tweetsByKey(id), followingKey(id), timelineKey(id)} {
			if rdb.Exists(ctx, key).Val() != 0 {
				t.Errorf("%s's %s is left", name, key)
			}
		}
		if rdb.HExists(ctx, keyFoldedNames, FoldUsername(name)).Val() {
			t.Errorf("%s's folded name is not released", name)
		}
		if f := rdb.ZRange(ctx, followerKey(bob), 0, -1).Val(); slices.Contains(f, id) {
			t.Errorf("bob's followers still list %s", name)
		}
	}
	// The caller goes away as the sessions end.
	alice, aliceSecret := setUp("alice")
	cctx, cancel := context.WithCancel(ctx)
	rdb.AddHook(hookOn{match: func(c redis.Cmder) bool { return command(c, "hdel", keyUsers) }, fn: func() error { cancel(); return nil }})
	if err := s.DeleteAccount(cctx, "", aliceSecret, "Passw0rd!", DefaultNameHold); err != nil {
		t.Fatalf("a deletion whose caller went away: %v", err)
	}
	gone("alice", alice)

	// Redis fails while the follows go: deleteuser finishes it.
	carol, _ := setUp("carol")
	failed := false
	rdb.AddHook(hookOn{match: func(c redis.Cmder) bool { return command(c, "zrem", followerKey(bob)) && !failed },
		fn: func() error { failed = true; return errors.New("injected: Redis went away") }})
	if err := s.DeleteUser(ctx, "carol", DefaultNameHold); err == nil || !failed {
		t.Fatalf("the deletion with Redis failing: %v (failed %v)", err, failed)
	}
	a, err := s.AccountOf(ctx, "carol")
	if err != nil || a.ID != carol || !a.Unfinished {
		t.Fatalf("AccountOf(carol) after the failure: %+v, %v; want her unfinished deletion", a, err)
	}
	if err := s.DeleteUser(ctx, "carol", DefaultNameHold); err != nil {
		t.Fatalf("finishing the deletion: %v", err)
	}
	gone("carol", carol)
	if _, err := s.AccountOf(ctx, "carol"); !isNotFound(err) {
		t.Errorf("AccountOf(carol) after the deletion: %v; want not found", err)
	}
	if err := s.Register(ctx, "carol", "Passw0rd!"); !errors.Is(err, ErrNameReserved) {
		t.Errorf("registering carol: %v; want %v", err, ErrNameReserved)
	}
}

// TestDeletedTwiceAtOnce: two deletions of one account run at once (a
// double click), and with no hold someone signs up its name between them.
// The later deletion leaves the new account its name: in users, in the
// folded names (so a case twin is still refused) and in the names a
// search finds. On one server and on a Cluster.
func TestDeletedTwiceAtOnce(t *testing.T) {
	onBoth(t, testDeletedTwiceAtOnce)
}

func testDeletedTwiceAtOnce(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	old, secret := mustRegister(t, s, "zed")
	if err := s.DeleteAccount(ctx, "", secret, "Passw0rd!", 0); err != nil {
		t.Fatal(err)
	}
	renewed, _ := mustRegister(t, s, "zed")
	// The second deletion, past its password check before the first ended.
	if err := s.deleteAccount(ctx, old, "zed", 0); err != nil {
		t.Fatal(err)
	}
	if id := rdb.HGet(ctx, keyUsers, "zed").Val(); id != renewed {
		t.Errorf("users has zed as %q; want the new account %s", id, renewed)
	}
	if id := rdb.HGet(ctx, keyFoldedNames, FoldUsername("zed")).Val(); id != renewed {
		t.Errorf("the folded name zed is %q's; want the new account %s", id, renewed)
	}
	if err := s.Register(ctx, "ZED", "Passw0rd!"); err == nil {
		t.Error("ZED could sign up beside zed")
	}
	q, _ := ParseQuery("zed")
	if names, err := s.SearchUsers(ctx, q); err != nil || !slices.Equal(names, []string{"zed"}) {
		t.Errorf("a search for zed finds %v, %v", names, err)
	}
}
