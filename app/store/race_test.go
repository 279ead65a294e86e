package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// beforeStep runs fn once, before the store's step number at (a command or
// a pipeline) and on its way to Redis (step is a client's hook, through
// eachCall): another process's operation, whole, between two of this one's
// steps.
type beforeStep struct {
	at, seen atomic.Int64
	fn       func()
	ran      atomic.Bool
}

func (b *beforeStep) arm(at int, fn func()) {
	b.fn = fn
	b.seen.Store(0)
	b.ran.Store(false)
	b.at.Store(int64(at))
}

func (b *beforeStep) step() {
	if b.seen.Add(1)-1 == b.at.Load() && !b.ran.Swap(true) {
		b.fn()
	}
}

// racer runs rounds of a race between two operations: in round i, the
// first runs on a store of its own (under), and the other, armed with
// before, runs whole before its step i.
type racer struct {
	hook  *beforeStep
	under *Store
}

func newRacer(t *testing.T, rdb redis.UniversalClient) *racer {
	r := &racer{hook: &beforeStep{}, under: New(cutClient(t, rdb), testHasher, nil)}
	r.under.rdb.AddHook(eachCall(r.hook.step))
	return r
}

// before arms other to run before step i of the next operation under runs.
func (r *racer) before(i int, other func()) { r.hook.arm(i, other) }

// done reports whether the rounds are over: the operation under ran took
// fewer steps than the round's number (the other never ran), or the test
// failed. It logs how many steps the race went through.
func (r *racer) done(t *testing.T, race string) bool {
	t.Helper()
	if !t.Failed() && r.hook.ran.Load() {
		return false
	}
	t.Logf("%s: %d steps", race, r.hook.at.Load())
	return true
}

// TestFollowRacingUnfollow runs a follow and an unfollow of one pair at
// the same moment (two tabs, a double click on the button as it flips), in
// every order: the other operation whole before each step of the first.
// After both, the pair is in both of its sets or in neither: on a Cluster
// they are on two slots and written one after the other, and a follower
// set holding a user whose following set lacks the followee (seen once in
// TestRandomOperationsOnCluster) serves a timeline nobody asked for.
func TestFollowRacingUnfollow(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		bob, _ := mustRegister(t, s, "bob")
		r := newRacer(t, rdb)
		for _, op := range []string{"follow", "unfollow"} {
			against := map[string]string{"follow": "unfollow", "unfollow": "follow"}[op]
			for i := 0; ; i++ {
				name := fmt.Sprintf("%s%d", op, i)
				fid, _ := mustRegister(t, s, name)
				if op == "unfollow" {
					if err := s.Follow(ctx, bob, name); err != nil {
						t.Fatal(err)
					}
				}
				r.before(i, func() {
					if err := s.follow(ctx, bob, name, against); err != nil {
						t.Errorf("%s before step %d of %s: %v", against, i, op, err)
					}
				})
				if err := r.under.follow(ctx, bob, name, op); err != nil {
					t.Fatalf("%s with a %s before its step %d: %v", op, against, i, err)
				}
				follower := rdb.ZScore(ctx, followerKey(fid), bob).Err() == nil
				following := rdb.ZScore(ctx, followingKey(bob), fid).Err() == nil
				if follower != following {
					t.Errorf("%s with a %s before its step %d: bob in %s's followers %v, %s in bob's following %v",
						op, against, i, name, follower, name, following)
				}
				told(t, rdb, fmt.Sprintf("%s with a %s before its step %d", op, against, i), fid, NotifyFollow, bob, "-", follower)
				if r.done(t, op) {
					break
				}
			}
		}
	})
}

// TestLikeRacingUnlike is TestFollowRacingUnfollow for likes and reposts:
// a like and an unlike (a repost and its undo) of one tweet by one user at
// the same moment, in every order. After both, the tweet's set and the
// user's agree, and a repost is on the followers' timelines only if it
// stands.
func TestLikeRacingUnlike(t *testing.T) {
	onBothAtOnce(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, _ := mustRegister(t, s, "alice")
		bob, bobSecret := mustRegister(t, s, "bob")
		carol, _ := mustRegister(t, s, "carol")
		if err := s.Follow(ctx, carol, "bob"); err != nil {
			t.Fatal(err)
		}
		r := newRacer(t, rdb)
		for _, kind := range []string{"like", "repost"} {
			do := func(st *Store, id string, on bool) error {
				if kind == "like" {
					return st.Like(ctx, bobSecret, id, on)
				}
				return st.Repost(ctx, bobSecret, id, on)
			}
			for _, on := range []bool{true, false} {
				for i := 0; ; i++ {
					id := mustPost(t, s, alice, fmt.Sprintf("%s %v %d", kind, on, i))
					settle(t, s)
					if !on {
						if err := do(s, id, true); err != nil {
							t.Fatal(err)
						}
						settle(t, s)
					}
					r.before(i, func() {
						if err := do(s, id, !on); err != nil {
							t.Errorf("%s %v before step %d: %v", kind, !on, i, err)
						}
					})
					if err := do(r.under, id, on); err != nil {
						t.Fatalf("%s %v with the other before its step %d: %v", kind, on, i, err)
					}
					settleAll(t, s)
					at := fmt.Sprintf("%s %v with the other before its step %d", kind, on, i)
					checkWhole(t, rdb, at)
					told(t, rdb, at, alice, kind, bob, id, rdb.SIsMember(ctx, map[string]func(string) string{"like": likesKey, "repost": repostsKey}[kind](id), bob).Val())
					if kind == "repost" {
						stands := rdb.SIsMember(ctx, repostsKey(id), bob).Val()
						shown := rdb.LPos(ctx, timelineKey(carol), id, redis.LPosArgs{}).Err() == nil
						if stands != shown {
							t.Errorf("%s: the repost stands %v, on the timeline of bob's follower %v", at, stands, shown)
						}
					}
					if r.done(t, fmt.Sprintf("%s %v", kind, on)) {
						break
					}
				}
			}
		}
	})
}

// told checks that the user holds a notification of kind by actor about
// tweet ("-": none) once if it stands, and none if it does not.
func told(t *testing.T, rdb redis.UniversalClient, at, user, kind, actor, tweet string, stands bool) {
	t.Helper()
	n := 0
	for _, e := range rdb.LRange(context.Background(), notificationsKey(user), 0, -1).Val() {
		if f := strings.Fields(e); len(f) == 4 && f[0] == kind && f[1] == actor && f[2] == tweet {
			n++
		}
	}
	if want := map[bool]int{true: 1, false: 0}[stands]; n != want {
		t.Errorf("%s: %d notifications of the %s by %s; it stands %v", at, n, kind, actor, stands)
	}
}

// TestRacingTheDeletions runs what others do to a tweet (like, repost,
// reply, edit) and to an account (follow it) with the tweet's or the
// account's deletion whole before each of its steps, and what a user does
// (like, repost, reply, post, follow) with the deletion of their own
// account, and each the other way round, on one server and on a Cluster.
// After both and the jobs, Redis holds nothing a reader could trip on
// (checkWhole).
func TestRacingTheDeletions(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	onBothAtOnce(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		r := newRacer(t, rdb)
		// fresh empties Redis and signs alice, bob and carol up again (bob
		// and carol follow alice, carol follows bob), so that each race's
		// checks read a small database.
		var alice, aliceSecret, bob, bobSecret, carol string
		fresh := func() {
			t.Helper()
			flushAll(t, rdb)
			alice, aliceSecret = mustRegister(t, s, "alice")
			bob, bobSecret = mustRegister(t, s, "bob")
			carol, _ = mustRegister(t, s, "carol")
			for _, f := range []string{bob, carol} {
				if err := s.Follow(ctx, f, "alice"); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Follow(ctx, carol, "bob"); err != nil {
				t.Fatal(err)
			}
		}
		type op func(st *Store, target string) error
		deleteTweet := func(st *Store, id string) error { return st.DeleteTweet(ctx, aliceSecret, id) }
		acts := []struct {
			name string
			act  op
		}{
			{"like", func(st *Store, id string) error { return st.Like(ctx, bobSecret, id, true) }},
			{"repost", func(st *Store, id string) error { return st.Repost(ctx, bobSecret, id, true) }},
			{"reply", func(st *Store, id string) error {
				_, err := st.Reply(ctx, bobSecret, id, "a reply to @alice #race")
				return err
			}},
			{"edit", func(st *Store, id string) error {
				_, err := st.EditTweet(ctx, aliceSecret, id, "edited @bob #after", time.Hour)
				return err
			}},
		}
		// Refusals are answers: the tweet was gone first.
		answered := func(err error) bool {
			var refusal *Error
			return err == nil || errors.As(err, &refusal) || errors.Is(err, ErrNoSuchTweet)
		}
		for _, a := range acts {
			for _, order := range []struct {
				name          string
				first, during op
			}{
				{a.name + " with the deletion before each step", a.act, deleteTweet},
				{"the deletion with the " + a.name + " before each step", deleteTweet, a.act},
			} {
				fresh()
				for i := 0; ; i++ {
					id := mustPost(t, s, alice, fmt.Sprintf("to race %d #race @bob", i))
					settle(t, s)
					r.before(i, func() {
						if err := order.during(s, id); !answered(err) {
							t.Errorf("%s, before step %d: %v", order.name, i, err)
						}
					})
					if err := order.first(r.under, id); !answered(err) {
						t.Fatalf("%s, before step %d: %v", order.name, i, err)
					}
					hideStaleNotices(t, rdb)
					settleAll(t, s)
					checkWhole(t, rdb, fmt.Sprintf("%s %d", order.name, i))
					if r.done(t, order.name) {
						break
					}
				}
			}
		}
		// What a user does, and the deletion of their own account.
		for _, a := range []struct {
			name string
			act  func(st *Store, id, secret, tweet string) error
		}{
			{"like", func(st *Store, _, secret, tweet string) error { return st.Like(ctx, secret, tweet, true) }},
			{"repost", func(st *Store, _, secret, tweet string) error { return st.Repost(ctx, secret, tweet, true) }},
			{"reply", func(st *Store, _, secret, tweet string) error {
				_, err := st.Reply(ctx, secret, tweet, "a reply to @alice #race")
				return err
			}},
			{"post", func(st *Store, _, secret, _ string) error {
				_, err := st.PostAs(ctx, secret, "a post mentioning @alice #race")
				return err
			}},
			{"follow", func(st *Store, id, _, _ string) error { return st.Follow(ctx, id, "alice") }},
		} {
			for _, actFirst := range []bool{true, false} {
				fresh()
				for i := 0; ; i++ {
					name := fmt.Sprintf("ben%s%v%d", a.name, actFirst, i)
					id, secret := mustRegister(t, s, name)
					if err := s.Follow(ctx, carol, name); err != nil {
						t.Fatal(err)
					}
					tweet := mustPost(t, s, alice, "for "+name)
					settle(t, s)
					act := func(st *Store) error { return a.act(st, id, secret, tweet) }
					del := func(st *Store) error { return st.DeleteAccount(ctx, "", secret, "Passw0rd!", 0) }
					first, during := act, del
					if !actFirst {
						first, during = del, act
					}
					at := fmt.Sprintf("%s first %v, the other before step %d", a.name, actFirst, i)
					r.before(i, func() {
						if err := during(s); !answered(err) && !errors.Is(err, ErrNotLoggedIn) {
							t.Errorf("%s: %v", at, err)
						}
					})
					if err := first(r.under); !answered(err) && !errors.Is(err, ErrNotLoggedIn) {
						t.Fatalf("%s: %v", at, err)
					}
					hideStaleNotices(t, rdb)
					settleAll(t, s)
					checkWhole(t, rdb, at)
					if r.done(t, fmt.Sprintf("%s first %v", a.name, actFirst)) {
						break
					}
				}
			}
		}
		// A follow of an account, and the account's deletion.
		for _, followFirst := range []bool{true, false} {
			fresh()
			for i := 0; ; i++ {
				name := fmt.Sprintf("dave%v%d", followFirst, i)
				_, secret := mustRegister(t, s, name)
				mustPost(t, s, alice, "for "+name)
				follow := func(st *Store) error { return st.Follow(ctx, bob, name) }
				del := func(st *Store) error { return st.DeleteAccount(ctx, "", secret, "Passw0rd!", 0) }
				first, during := follow, del
				if !followFirst {
					first, during = del, follow
				}
				r.before(i, func() {
					if err := during(s); !answered(err) && !errors.Is(err, ErrNotLoggedIn) {
						t.Errorf("follow first %v, before step %d: %v", followFirst, i, err)
					}
				})
				if err := first(r.under); !answered(err) && !errors.Is(err, ErrNotLoggedIn) {
					t.Fatalf("follow first %v, before step %d: %v", followFirst, i, err)
				}
				hideStaleNotices(t, rdb)
				settleAll(t, s)
				checkWhole(t, rdb, fmt.Sprintf("follow first %v, the other before step %d", followFirst, i))
				if r.done(t, fmt.Sprintf("follow first %v", followFirst)) {
					break
				}
			}
		}
	})
}

// TestEditRacingEdit runs two edits of one tweet at the same moment (the
// author in two tabs), the second whole before each step of the first, on
// one server and on a Cluster: the tweet then reads as one of the two, its
// earlier versions are listed, and its tags, words and mentions are
// indexed as its text says (checkWhole).
func TestEditRacingEdit(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, aliceSecret := mustRegister(t, s, "alice")
		mustRegister(t, s, "bob")
		mustRegister(t, s, "carol")
		r := newRacer(t, rdb)
		for i := 0; ; i++ {
			id := mustPost(t, s, alice, fmt.Sprintf("first %d #one @bob", i))
			settleAll(t, s)
			texts := []string{"second #two @carol words", "third #three plain"}
			r.before(i, func() {
				if _, err := s.EditTweet(ctx, aliceSecret, id, texts[1], time.Hour); err != nil {
					t.Errorf("the second edit, before step %d of the first: %v", i, err)
				}
			})
			if _, err := r.under.EditTweet(ctx, aliceSecret, id, texts[0], time.Hour); err != nil {
				t.Fatalf("the first edit, the second before its step %d: %v", i, err)
			}
			settleAll(t, s)
			at := fmt.Sprintf("two edits, the second before step %d of the first", i)
			checkWhole(t, rdb, at)
			if body := rdb.HGet(ctx, tweetKey(id), fieldTweetBody).Val(); body != texts[0] && body != texts[1] {
				t.Errorf("%s: the tweet reads %q", at, body)
			}
			if r.done(t, t.Name()) {
				break
			}
		}
	})
}

// TestSecretRacingSecret runs two changes of a user's secret at the same
// moment (a password change in one tab, a sign-out in another), the second
// whole before each step of the first, on one server and on a Cluster:
// afterwards the account has one secret, auths leads to it from that
// secret alone, and the user signs in with the password that was set.
func TestSecretRacingSecret(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		r := newRacer(t, rdb)
		for i := 0; ; i++ {
			name := fmt.Sprintf("dana%d", i)
			id, secret := mustRegister(t, s, name)
			r.before(i, func() {
				if err := s.Logout(ctx, secret); err != nil && !errors.Is(err, ErrNotLoggedIn) {
					t.Errorf("the sign-out, before step %d of the change: %v", i, err)
				}
			})
			_, err := r.under.ChangePassword(ctx, "", secret, "Passw0rd!", "N3w-Passw0rd")
			if err != nil && !errors.Is(err, ErrNotLoggedIn) {
				t.Fatalf("the change, the sign-out before its step %d: %v", i, err)
			}
			at := fmt.Sprintf("a password change, a sign-out before its step %d", i)
			current := rdb.HGet(ctx, userKey(id), fieldAuth).Val()
			for k, v := range rdb.HGetAll(ctx, keyAuths).Val() {
				if v == id && k != current {
					t.Errorf("%s: auths leads to %s from a secret the account does not hold", at, name)
				}
			}
			if current != "" && rdb.HGet(ctx, keyAuths, current).Val() != id {
				t.Errorf("%s: the account's secret is not in auths", at)
			}
			pw := "N3w-Passw0rd"
			if err != nil {
				pw = "Passw0rd!"
			}
			if _, err := s.Login(ctx, "", name, pw); err != nil {
				t.Errorf("%s: signing in with %q: %v", at, pw, err)
			}
			if r.done(t, t.Name()) {
				break
			}
		}
	})
}

// TestAddressRacingAddress confirms two addresses of one account at the
// same moment (two links, opened together), the second whole before each
// step of the first, on one server and on a Cluster: the account then has
// one of them, and only that one leads to it.
func TestAddressRacingAddress(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		r := newRacer(t, rdb)
		for i := 0; ; i++ {
			id, secret := mustRegister(t, s, fmt.Sprintf("erin%d", i))
			a, b := fmt.Sprintf("a%d@example.com", i), fmt.Sprintf("b%d@example.com", i)
			first, err := s.AddressToken(ctx, secret, a)
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.AddressToken(ctx, secret, b)
			if err != nil {
				t.Fatal(err)
			}
			r.before(i, func() {
				if _, err := s.ConfirmAddress(ctx, second); err != nil {
					t.Errorf("the second link, before step %d of the first: %v", i, err)
				}
			})
			if _, err := r.under.ConfirmAddress(ctx, first); err != nil {
				t.Fatalf("the first link, the second before its step %d: %v", i, err)
			}
			at := fmt.Sprintf("two addresses confirmed, the second before step %d of the first", i)
			has := rdb.Get(ctx, emailKey(id)).Val()
			if has != a && has != b {
				t.Errorf("%s: the account has %q", at, has)
			}
			for _, addr := range []string{a, b} {
				if leads := rdb.Get(ctx, emailUserKey(addr)).Val() == id; leads != (addr == has) {
					t.Errorf("%s: the account has %s, and %s leads to it: %v", at, has, addr, leads)
				}
			}
			if r.done(t, t.Name()) {
				break
			}
		}
	})
}
