package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// clusterStore is a Store on a real Redis Cluster of three primaries.
func clusterStore(t *testing.T) (*Store, *redis.ClusterClient, *redistest.Cluster) {
	t.Helper()
	cl := redistest.StartCluster(t)
	rdb := cl.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	if !s.sharded {
		t.Fatal("a store on a ClusterClient does not run single-key steps")
	}
	return s, rdb, cl
}

// TestClusterOperations runs every store operation on a Cluster, as the
// site and pytwis_clt use them.
func TestClusterOperations(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, bobSecret := mustRegister(t, s, "bob")
	mustRegister(t, s, "carol")
	if err := s.Register(ctx, "alice", "Passw0rd!"); !isKind(err, Conflict) {
		t.Errorf("a second alice: %v", err)
	}
	if err := s.Register(ctx, "ALICE", "Passw0rd!"); !isKind(err, Conflict) {
		t.Errorf("ALICE after alice: %v", err)
	}
	if _, err := s.Login(ctx, "", "alice", "wrong-Passw0rd"); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("a wrong password: %v", err)
	}
	v, err := s.Authenticate(ctx, aliceSecret)
	if err != nil || v.ID != alice || v.Username != "alice" {
		t.Fatalf("Authenticate = %+v, %v", v, err)
	}
	for _, who := range []string{"bob", "carol"} {
		id := rdb.HGet(ctx, "users", who).Val()
		if err := s.Follow(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Follow(ctx, alice, "alice"); !isKind(err, Invalid) {
		t.Errorf("following oneself: %v", err)
	}
	id, err := s.PostAs(ctx, aliceSecret, "hello from a cluster")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	_, page, err := s.Timeline(ctx, bobSecret, Own, 0, 10)
	if err != nil || len(page.Tweets) != 1 || page.Tweets[0].ID != id || page.Tweets[0].Username != "alice" {
		t.Errorf("bob's timeline: %+v, %v", page, err)
	}
	_, page, err = s.Timeline(ctx, "", General, 0, 10)
	if err != nil || len(page.Tweets) != 1 || page.Tweets[0].Body != "hello from a cluster" {
		t.Errorf("the general timeline: %+v, %v", page, err)
	}
	viewer, up, err := s.UserTweets(ctx, bobSecret, "alice", 0, 10)
	if err != nil || viewer == nil || viewer.ID != bob || !up.ViewerFollows || up.Followers != 2 || len(up.Tweets) != 1 {
		t.Errorf("alice's page seen by bob: %+v %+v, %v", viewer, up, err)
	}
	people, err := s.FollowersPage(ctx, alice, 1)
	if err != nil || people.Total != 2 || len(people.Names) != 2 {
		t.Errorf("alice's followers: %+v, %v", people, err)
	}
	if err := s.Unfollow(ctx, bob, "alice"); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.Followers(ctx, alice); len(names) != 1 || names[0] != "carol" {
		t.Errorf("followers after bob unfollowed: %v", names)
	}
	renewed, err := s.RenewSecret(ctx, bobSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, bobSecret); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("the old secret after a renewal: %v", err)
	}
	changed, err := s.ChangePassword(ctx, "", renewed, "Passw0rd!", "N3w-Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "", "bob", "N3w-Passw0rd"); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
	if v, err := s.Authenticate(ctx, changed); err != nil || v.ID != bob {
		t.Errorf("the secret after the change: %+v, %v", v, err)
	}
	readable(t, s, rdb)
}

func isKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// readable fails the test if a reader, pytwis or pytwask, would trip on the
// data: each name in users leads to its user hash, each id in a list to a
// tweet with pytwis's three fields, each follow to a user; and pytwask's
// pages of every user read without error.
func readable(t *testing.T, s *Store, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	users := rdb.HGetAll(ctx, "users").Val()
	ids := map[string]bool{}
	lists := []string{"timeline"}
	for name, id := range users {
		ids[id] = true
		if got := rdb.HGet(ctx, "user:"+id, "username").Val(); got != name {
			t.Errorf("users names %s as %s, whose hash says %q", name, id, got)
		}
		lists = append(lists, "timeline:"+id, "tweets_by:"+id)
	}
	for _, l := range lists {
		for _, tid := range rdb.LRange(ctx, l, 0, -1).Val() {
			if n := rdb.HLen(ctx, "tweet:"+tid).Val(); n < 3 {
				t.Errorf("%s names tweet %s, which has %d fields", l, tid, n)
			}
		}
	}
	for id := range ids {
		for _, set := range []string{"follower:" + id, "following:" + id} {
			for _, m := range rdb.ZRange(ctx, set, 0, -1).Val() {
				if !ids[m] {
					t.Errorf("%s holds %s, who is no user", set, m)
				}
			}
		}
	}
	for name := range users {
		if _, _, err := s.UserTweets(ctx, "", name, 0, 50); err != nil {
			t.Errorf("the page of %s: %v", name, err)
		}
	}
	if _, _, err := s.Timeline(ctx, "", General, 0, 50); err != nil {
		t.Errorf("the general timeline: %v", err)
	}
}

// cutAfter is a go-redis hook that lets the first n commands through and
// fails the rest, as a pytwask process that dies between two of an
// operation's writes would leave it.
type cutAfter struct{ n, seen atomic.Int64 }

var errCut = errors.New("cut off here by the test")

func (c *cutAfter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c *cutAfter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if c.seen.Add(1) > c.n.Load() {
			cmd.SetErr(errCut)
			return errCut
		}
		return next(ctx, cmd)
	}
}

func (c *cutAfter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if c.seen.Add(int64(len(cmds))) > c.n.Load() {
			for _, cmd := range cmds {
				cmd.SetErr(errCut)
			}
			return errCut
		}
		return next(ctx, cmds)
	}
}

// TestClusterCutAtEveryStep cuts each writing operation off after each of
// its commands in turn. After every cut the data is readable (readable),
// and the operation done again from the start succeeds, or says clearly
// that it was done (a name taken by the cut-off sign-up itself).
func TestClusterCutAtEveryStep(t *testing.T) {
	s, rdb, cl := clusterStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	for _, who := range []string{"bob", "carol"} {
		id, _ := mustRegister(t, s, who)
		if err := s.Follow(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	// The store under test: its own client, with the cut.
	cut := &cutAfter{}
	cutRDB := cl.Client()
	defer cutRDB.Close()
	cutRDB.AddHook(cut)
	cs := New(cutRDB, testHasher, nil)

	// user returns the id and first secret of a user made for step i, once.
	made := map[string][2]string{}
	user := func(name string) (string, string) {
		if u, ok := made[name]; ok {
			return u[0], u[1]
		}
		id, secret := mustRegister(t, s, name)
		made[name] = [2]string{id, secret}
		return id, secret
	}
	ops := []struct {
		name string
		run  func(st *Store, i int) error
	}{
		{"register", func(st *Store, i int) error { return st.Register(ctx, fmt.Sprintf("dave%d", i), "Passw0rd!") }},
		{"post", func(st *Store, i int) error { _, err := st.Post(ctx, alice, fmt.Sprintf("post %d", i)); return err }},
		{"follow", func(st *Store, i int) error {
			id, _ := user(fmt.Sprintf("erin%d", i))
			return st.Follow(ctx, id, "alice")
		}},
		{"renew", func(st *Store, i int) error {
			_, secret := user(fmt.Sprintf("frank%d", i))
			_, err := st.RenewSecret(ctx, secret)
			return err
		}},
		{"fan-out", func(st *Store, i int) error {
			if _, err := s.Post(ctx, alice, fmt.Sprintf("fanned out %d", i)); err != nil {
				return err
			}
			return st.DrainFanOut(ctx, "worker")
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			for i := 0; ; i++ {
				cut.n.Store(int64(i))
				cut.seen.Store(0)
				err := op.run(cs, i)
				cut.n.Store(1 << 60)
				if err == nil {
					t.Logf("%s: %d commands, cut after each in turn", op.name, cut.seen.Load())
					break
				}
				if !errors.Is(err, errCut) {
					t.Fatalf("cut after %d commands: %v", i, err)
				}
				readable(t, s, rdb)
				// Done again, by a process that is not cut off.
				switch err := op.run(s, i); {
				case err == nil:
				case op.name == "register" && isKind(err, Conflict):
					if _, err := s.Login(ctx, "", fmt.Sprintf("dave%d", i), "Passw0rd!"); err != nil {
						t.Errorf("dave%d's sign-up was cut off after %d commands, is refused again, and cannot sign in: %v", i, i, err)
					}
				case op.name == "renew" && errors.Is(err, ErrNotLoggedIn):
					// The cut renewal went through: the old secret is gone.
					id, secret := user(fmt.Sprintf("frank%d", i))
					if rdb.HGet(ctx, "user:"+id, "auth").Val() == secret {
						t.Errorf("frank%d's secret is still current, but renewing it again is refused", i)
					}
				default:
					t.Errorf("%s again after a cut after %d commands: %v", op.name, i, err)
				}
				if i > 200 {
					t.Fatal("the operation never completed")
				}
			}
			readable(t, s, rdb)
		})
	}
	// Every post reached each follower once, cut or not.
	if err := s.DrainFanOut(ctx, "final"); err != nil {
		t.Fatal(err)
	}
	posts := rdb.LRange(ctx, "tweets_by:"+alice, 0, -1).Val()
	for _, who := range []string{"bob", "carol"} {
		id := rdb.HGet(ctx, "users", who).Val()
		got := rdb.LRange(ctx, "timeline:"+id, 0, -1).Val()
		seen := map[string]int{}
		for _, tid := range got {
			seen[tid]++
		}
		for _, tid := range posts {
			if seen[tid] != 1 {
				t.Errorf("%s's timeline holds alice's tweet %s %d times", who, tid, seen[tid])
			}
		}
	}
	if t.Failed() {
		t.Log(strings.Join(posts, " "))
	}
	// And every job left the stream: one left in it after its delivery
	// was acknowledged is never read again, and counts as queued for good.
	if n := rdb.XLen(ctx, keyFanOut).Val(); n != 0 {
		t.Errorf("%d fan-out jobs are still in the stream after the last drain", n)
	}
}

// TestClusterCounterBehind: a failover of the shard holding next_user_id
// or next_tweet_id can lose its last increments while the users and
// tweets they numbered stand on other shards. The next sign-up and post
// must not be given those ids: they would take over the account (its
// name, password and tweets) and the tweet.
func TestClusterCounterBehind(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	first := mustPost(t, s, alice, "first")
	for _, counter := range []string{keyNextUserID, keyNextTweetID} {
		if err := rdb.Decr(ctx, counter).Err(); err != nil { // the shard's lost write
			t.Fatal(err)
		}
	}
	bob, _ := mustRegister(t, s, "bob")
	second := mustPost(t, s, bob, "second")
	if bob == alice || second == first {
		t.Errorf("bob has id %s (alice %s), his tweet %s (alice's %s); want new ids", bob, alice, second, first)
	}
	if _, err := s.Login(ctx, "", "alice", "Passw0rd!"); err != nil {
		t.Errorf("alice signing in: %v", err)
	}
	_, p, err := s.UserTweets(ctx, "", "alice", 0, 10)
	if err != nil || len(p.Tweets) != 1 || p.Tweets[0].Body != "first" || p.Tweets[0].Username != "alice" {
		t.Errorf("alice's tweets: %+v, %v; want her first", p.Tweets, err)
	}
	settleAll(t, s)
	checkWhole(t, rdb, "after the counters fell behind")
}

// TestPostCutBeforeItsJobIsNotShown: on a Cluster a post cut off between
// its hash and its fan-out job leaves a hash that no list names, its
// author told the post failed. Its page is a 404 (an author who posts
// again would otherwise have two), as no list shows it either, and it
// cannot be answered.
func TestPostCutBeforeItsJobIsNotShown(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	cut := cutClient(t, rdb)
	cut.AddHook(hookOn{match: func(c redis.Cmder) bool { return c.Name() == "xadd" }, fn: func() error { return errCut }})
	if _, err := New(cut, testHasher, nil).Post(ctx, alice, "never told of"); !errors.Is(err, errCut) {
		t.Fatalf("a post cut before its job: %v", err)
	}
	id := rdb.Get(ctx, keyNextTweetID).Val()
	if !rdb.HExists(ctx, tweetKey(id), fieldPosting).Val() {
		t.Fatalf("tweet %s is not a marked hash; the test cuts the wrong command", id)
	}
	for _, secret := range []string{"", "not signed in"} {
		if _, c, err := s.TweetConversation(ctx, secret, id, 0, 10); !isKind(err, NotFound) {
			t.Errorf("the page of the post cut off: %+v, %v; want not found", c.Tweet, err)
		}
	}
	if _, p, err := s.UserTweets(ctx, "", "alice", 0, 10); err != nil || len(p.Tweets) != 0 {
		t.Errorf("alice's tweets: %+v, %v; want none", p.Tweets, err)
	}
	// Nor can it be answered, by someone who has its URL.
	_, bobSecret := mustRegister(t, s, "bob")
	if reply, err := s.Reply(ctx, bobSecret, id, "what post?"); !errors.Is(err, ErrNoSuchTweet) {
		t.Errorf("a reply to the post cut off: %q, %v; want no such tweet", reply, err)
	}
}

// TestPostMarkedUntilListed: on a Cluster a post marks its tweet until it
// is on its lists (fieldPosting). One whose mark stays, its post cut off
// after its fan-out job began, is left out by the search indexer once a
// later tweet is holeWait old; its job then lists it, takes the mark off,
// and indexes its words itself.
func TestPostMarkedUntilListed(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	// The post's removal of the mark is cut off.
	cut := cutClient(t, rdb)
	cut.AddHook(hookOn{match: func(c redis.Cmder) bool {
		args := c.Args()
		return c.Name() == "hdel" && len(args) == 3 && args[2] == fieldPosting
	}, fn: func() error { return errCut }})
	id, err := New(cut, testHasher, nil).Post(ctx, alice, "marked still")
	if err != nil {
		t.Fatalf("a post whose mark stays: %v", err)
	}
	if !rdb.HExists(ctx, tweetKey(id), fieldPosting).Val() {
		t.Fatal("the cut did not leave the mark; the test cuts the wrong command")
	}
	// The indexer, a holeWait after a later post, passes the marked tweet
	// by.
	if _, err := s.Post(ctx, alice, "a later post"); err != nil {
		t.Fatal(err)
	}
	now := s.now
	s.now = func() time.Time { return now().Add(holeWait + time.Second) }
	indexAll(t, s)
	s.now = now
	if rdb.LPos(ctx, wordKey("marked"), id, redis.LPosArgs{}).Err() == nil {
		t.Fatal("the indexer listed a tweet still marked posting")
	}
	settle(t, s) // its fan-out job
	if rdb.HExists(ctx, tweetKey(id), fieldPosting).Val() {
		t.Error("the job left the mark")
	}
	for _, w := range []string{"marked", "still"} {
		if err := rdb.LPos(ctx, wordKey(w), id, redis.LPosArgs{}).Err(); err != nil {
			t.Errorf("the word %q does not find the tweet once its job listed it: %v", w, err)
		}
	}
	checkWhole(t, rdb, "after the job")
}

// lateReply makes a Cluster node's reply to the next command it matches
// come too late, as from a node that stalls past ReadTimeout: the command
// runs, and its caller is told the read timed out.
type lateReply struct {
	match atomic.Pointer[func(redis.Cmder) bool]
}

var errLate = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func (l *lateReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lateReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if m := l.match.Load(); err == nil && m != nil && (*m)(cmd) && l.match.CompareAndSwap(m, nil) {
			cmd.SetErr(errLate)
			return errLate
		}
		return err
	}
}

func (l *lateReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestClusterCommandSentOnce has a Cluster node answer a command too late
// (it ran it). go-redis's Cluster client sent such a command again, up to
// three times more, and Redis ran each copy: a sign-up whose claim of its
// name was answered late found the name taken (by itself), took its
// account back, and left the name pointing to nothing, for good. Now the
// command is not sent again and the caller is told Redis did not answer.
func TestClusterCommandSentOnce(t *testing.T) {
	_, rdb, _ := clusterStore(t)
	c := redis.NewClusterClient(rdb.Options())
	t.Cleanup(func() { c.Close() })
	late := &lateReply{}
	c.OnNewNode(func(node *redis.Client) { node.AddHook(late) })
	s := New(c, testHasher, nil)
	ctx := context.Background()
	answerLate := func(name, key string) {
		m := func(cmd redis.Cmder) bool {
			a := cmd.Args()
			return cmd.Name() == name && len(a) > 1 && a[1] == key
		}
		late.match.Store(&m)
	}

	answerLate("incr", "pytwask:test:count")
	err := c.Incr(ctx, "pytwask:test:count").Err()
	if !IsUnavailable(err) {
		t.Errorf("an INCR answered late: %v; want a failure to reach Redis", err)
	}
	if n := rdb.Get(ctx, "pytwask:test:count").Val(); n != "1" {
		t.Errorf("an INCR answered late ran %s times; want once", n)
	}

	answerLate("hsetnx", keyUsers)
	err = s.Register(ctx, "alice", "Passw0rd!")
	if !IsUnavailable(err) {
		t.Errorf("a sign-up whose name claim was answered late: %v; want a failure to reach Redis", err)
	}
	// The sign-up went through: asked again, the name is taken, and it
	// signs in.
	if err := s.Register(ctx, "alice", "Passw0rd!"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("the sign-up asked again: %v; want the name taken", err)
	}
	if _, err := s.Login(ctx, "", "alice", "Passw0rd!"); err != nil {
		t.Errorf("signing in after a sign-up answered late: %v", err)
	}
	settleAll(t, s)
	checkWhole(t, rdb, "after a sign-up answered late")
}
