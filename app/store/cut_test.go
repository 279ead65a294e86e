package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCutAtEveryStep cuts each of the conversation's writing operations
// (likes, reposts, replies, edits, deletions, unfollows, a password
// change) off after each of its commands in turn, as a pytwask process
// that dies between two writes would, on one server and on a Cluster.
// After every cut and the fan-out jobs, asking again by an uncut process
// finishes the operation (or says clearly that it was done), and then
// nothing a reader could trip on is left (checkWhole): no count that
// differs from what it counts, no half a like, no listed deleted tweet.
func TestCutAtEveryStep(t *testing.T) {
	onBothAtOnce(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, aliceSecret := mustRegister(t, s, "alice")
		bob, bobSecret := mustRegister(t, s, "bob")
		if err := s.Follow(ctx, bob, "alice"); err != nil {
			t.Fatal(err)
		}
		// The store under test: its own client, with the cut.
		cut := &cutAfter{}
		cs := New(cutClient(t, rdb), testHasher, nil)
		cs.rdb.AddHook(cut)

		post := func(body string) string {
			t.Helper()
			id, err := s.Post(ctx, alice, body)
			if err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			return id
		}
		do := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		password := "Passw0rd!"
		ops := []struct {
			name string
			// prepare makes what step i works on, uncut; run does the
			// operation as st; again says whether an error from asking
			// again means that the cut one went through.
			prepare func(i int) string
			run     func(st *Store, id string) error
			done    func(err error) bool
		}{
			{"like", func(i int) string { return post(fmt.Sprintf("to like %d", i)) },
				func(st *Store, id string) error { return st.Like(ctx, bobSecret, id, true) }, nil},
			{"unlike", func(i int) string {
				id := post(fmt.Sprintf("to unlike %d", i))
				do(s.Like(ctx, bobSecret, id, true))
				return id
			}, func(st *Store, id string) error { return st.Like(ctx, bobSecret, id, false) }, nil},
			{"repost", func(i int) string { return post(fmt.Sprintf("to repost %d", i)) },
				func(st *Store, id string) error { return st.Repost(ctx, bobSecret, id, true) }, nil},
			{"unrepost", func(i int) string {
				id := post(fmt.Sprintf("to unrepost %d", i))
				do(s.Repost(ctx, bobSecret, id, true))
				settle(t, s)
				return id
			}, func(st *Store, id string) error { return st.Repost(ctx, bobSecret, id, false) }, nil},
			{"reply", func(i int) string { return post(fmt.Sprintf("to reply to %d", i)) },
				func(st *Store, id string) error {
					_, err := st.Reply(ctx, bobSecret, id, "a reply to @alice #cut")
					return err
				}, nil},
			{"edit", func(i int) string { return post(fmt.Sprintf("to edit %d #before", i)) },
				func(st *Store, id string) error {
					_, err := st.EditTweet(ctx, aliceSecret, id, "edited, mentioning @bob #after", time.Hour)
					return err
				}, nil},
			{"delete", func(i int) string {
				id := post(fmt.Sprintf("to delete %d #gone", i))
				do(s.Like(ctx, bobSecret, id, true))
				do(s.Repost(ctx, bobSecret, id, true))
				_, err := s.Reply(ctx, bobSecret, id, "a reply that stays")
				do(err)
				settle(t, s)
				return id
			}, func(st *Store, id string) error { return st.DeleteTweet(ctx, aliceSecret, id) },
				func(err error) bool { return errors.Is(err, ErrNoSuchTweet) }},
			{"unfollow", func(i int) string {
				name := fmt.Sprintf("carol%d", i)
				do(s.Register(ctx, name, "Passw0rd!"))
				do(s.Follow(ctx, bob, name))
				return name
			}, func(st *Store, name string) error { return st.Unfollow(ctx, bob, name) }, nil},
			{"change password", func(i int) string { return fmt.Sprintf("Passw0rd!%d", i) },
				func(st *Store, next string) error {
					secret, err := st.Login(ctx, "", "alice", password)
					if err != nil {
						return err
					}
					if aliceSecret, err = st.ChangePassword(ctx, "", secret, password, next); err == nil {
						password = next
					}
					return err
				},
				func(err error) bool { return errors.Is(err, ErrIncorrectPassword) }},
		}
		for _, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				for i := 0; ; i++ {
					target := op.prepare(i)
					cut.n.Store(int64(i))
					cut.seen.Store(0)
					err := op.run(cs, target)
					cut.n.Store(1 << 60)
					if err == nil && cut.seen.Load() > int64(i) {
						// The cut fell in a step that is best-effort by
						// design, the notices (notify, unnotify): the
						// operation stands, and a notice it could not take
						// back stays, which the notifications page hides.
						hideStaleNotices(t, rdb)
						settleAll(t, s)
						checkWhole(t, rdb, fmt.Sprintf("%s cut after %d commands, in its notices", op.name, i))
						continue
					}
					if err == nil {
						settleAll(t, s)
						checkWhole(t, rdb, fmt.Sprintf("%s, not cut (%d commands)", op.name, cut.seen.Load()))
						t.Logf("%s: %d commands, cut after each in turn", op.name, cut.seen.Load())
						return
					}
					if !errors.Is(err, errCut) {
						t.Fatalf("cut after %d commands: %v", i, err)
					}
					// Asked again, by a process that is not cut off.
					err = op.run(s, target)
					if op.name == "change password" && errors.Is(err, ErrIncorrectPassword) {
						// The cut change went through: sign in with the new one.
						password = target
						err = nil
					}
					if err != nil && (op.done == nil || !op.done(err)) {
						t.Fatalf("%s again after a cut after %d commands: %v", op.name, i, err)
					}
					settleAll(t, s)
					checkWhole(t, rdb, fmt.Sprintf("%s cut after %d commands, then asked again", op.name, i))
					if t.Failed() || i > 100 {
						return
					}
				}
			})
		}
	})
}

// hideStaleNotices drops the notifications about deleted tweets, which
// the notifications page does not show, and keeps each unread count within
// what is left, as reading the page does.
func hideStaleNotices(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	for _, uid := range rdb.HVals(ctx, keyUsers).Val() {
		for _, e := range rdb.LRange(ctx, notificationsKey(uid), 0, -1).Val() {
			if f := strings.Fields(e); len(f) == 4 && f[2] != "-" && rdb.HExists(ctx, tweetKey(f[2]), fieldDeleted).Val() {
				rdb.LRem(ctx, notificationsKey(uid), 0, e)
			}
		}
		if unread, n := rdb.Get(ctx, unreadKey(uid)).Val(), rdb.LLen(ctx, notificationsKey(uid)).Val(); unread != "" {
			if u, _ := strconv.ParseInt(unread, 10, 64); u > n {
				rdb.Set(ctx, unreadKey(uid), n, 0)
			}
		}
	}
}

// settleAll runs the fan-out jobs and the search indexer to their ends,
// as the workers would; the indexer passes at once the ids that cut posts
// took and never wrote (it waits holeWait for them).
func settleAll(t *testing.T, s *Store) {
	t.Helper()
	settle(t, s)
	now := s.now
	defer func() { s.now = now }()
	s.now = func() time.Time { return now().Add(holeWait + time.Second) }
	indexAll(t, s)
}

// cutClient is a second client of rdb's Redis, for a store whose commands
// a test cuts off.
func cutClient(t *testing.T, rdb redis.UniversalClient) redis.UniversalClient {
	var c redis.UniversalClient
	switch r := rdb.(type) {
	case *redis.Client:
		c = redis.NewClient(r.Options())
	case *redis.ClusterClient:
		c = redis.NewClusterClient(r.Options())
	default:
		t.Fatalf("a client of %T", rdb)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
