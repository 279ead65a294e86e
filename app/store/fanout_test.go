package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// fanOutStore is a store whose posts to more than 10 followers go through a
// fan-out job, with an author followed by n users (ids 2 to n+1) that
// followed at the given unix times (time t0 unless noted), and one user who
// follows nobody.
func fanOutStore(t *testing.T, n int) (s *Store, rdb *redis.Client, author string, followers []string) {
	t.Helper()
	s, rdb = newStore(t)
	s.inlineFanOut = 10
	s.jobIdle = 50 * time.Millisecond
	ctx := context.Background()
	author, _ = mustRegister(t, s, "author")
	pipe := rdb.Pipeline()
	for i := range n {
		id := strconv.Itoa(i + 2)
		followers = append(followers, id)
		pipe.HSet(ctx, "users", "fan"+id, id)
		pipe.HSet(ctx, "user:"+id, "username", "fan"+id)
		// Several followers share each score, as bulk follows do.
		pipe.ZAdd(ctx, "follower:"+author, redis.Z{Score: float64(1000 + i/7), Member: id})
		pipe.ZAdd(ctx, "following:"+id, redis.Z{Score: float64(1000 + i/7), Member: author})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, "next_user_id", n+1, 0)
	return s, rdb, author, followers
}

// timelineCounts returns how often tweet is on each of the owners'
// timelines.
func timelineCounts(t *testing.T, rdb redis.UniversalClient, tweet string, owners []string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, o := range owners {
		for _, id := range rdb.LRange(context.Background(), "timeline:"+o, 0, -1).Val() {
			if id == tweet {
				counts[o]++
			}
		}
	}
	return counts
}

// exactlyOnce fails the test unless every owner's timeline holds tweet
// once.
func exactlyOnce(t *testing.T, rdb *redis.Client, tweet string, owners []string) {
	t.Helper()
	counts := timelineCounts(t, rdb, tweet, owners)
	wrong := 0
	for _, o := range owners {
		if counts[o] != 1 {
			if wrong < 5 {
				t.Errorf("timeline:%s holds tweet %s %d times; want once", o, tweet, counts[o])
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d timelines wrong", wrong, len(owners))
	}
}

// noJobsLeft fails the test if the stream or any job state remains.
func noJobsLeft(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	if n := rdb.XLen(ctx, keyFanOut).Val(); n != 0 {
		t.Errorf("%d jobs left in the stream", n)
	}
	if keys := rdb.Keys(ctx, keyFanOut+":*").Val(); len(keys) != 0 {
		t.Errorf("job state left: %v", keys)
	}
	if p := rdb.XPending(ctx, keyFanOut, fanOutGroup).Val(); p != nil && p.Count != 0 {
		t.Errorf("%d jobs pending", p.Count)
	}
}

// jobsDrain waits, at most within, until the workers have taken every job
// off the stream.
func jobsDrain(rdb *redis.Client, within time.Duration) {
	deadline := time.Now().Add(within)
	for rdb.XLen(context.Background(), keyFanOut).Val() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// aliceFollowed registers alice and her followers, names, and returns
// their ids.
func aliceFollowed(t *testing.T, s *Store, names ...string) (alice string, followers []string) {
	t.Helper()
	alice, _ = mustRegister(t, s, "alice")
	for _, name := range names {
		id, _ := mustRegister(t, s, name)
		followAlice(t, s, id)
		followers = append(followers, id)
	}
	return alice, followers
}

// nextJob reads the next new job as consumer.
func nextJob(t *testing.T, s *Store, consumer string) redis.XMessage {
	t.Helper()
	ctx := context.Background()
	if err := s.ensureFanOutGroup(ctx); err != nil {
		t.Fatal(err)
	}
	streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: fanOutGroup, Consumer: consumer,
		Streams: []string{keyFanOut, ">"}, Count: 1, Block: -1}).Result()
	if err != nil || len(streams) != 1 || len(streams[0].Messages) != 1 {
		t.Fatalf("no job: %v %v", streams, err)
	}
	return streams[0].Messages[0]
}

func TestPostToFewFollowersIsInline(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 10)
	id, err := s.Post(context.Background(), author, "hello")
	if err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rdb, id, append(followers, author))
	noJobsLeft(t, rdb)
}

func TestFanOutJob(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 1300)
	ctx := context.Background()
	id := mustPost(t, s, author, "hello, everybody")
	// At once: the author's own timeline, tweets_by, the general timeline,
	// and a job.
	exactlyOnce(t, rdb, id, []string{author})
	if rdb.LIndex(ctx, "tweets_by:"+author, 0).Val() != id || rdb.LIndex(ctx, "timeline", 0).Val() != id {
		t.Error("the tweet is not on tweets_by and the general timeline at once")
	}
	if n := rdb.XLen(ctx, keyFanOut).Val(); n != 1 {
		t.Fatalf("%d jobs; want 1", n)
	}
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rdb, id, followers)
	noJobsLeft(t, rdb)
	if st := s.FanOutStats(); st.Done != 1 || st.Followers != 1300 {
		t.Errorf("stats %+v; want 1 job done to 1300 followers", st)
	}
}

// TestFanOutKilledAtEveryStep stops a job's worker after each of its steps
// in turn, as SIGKILL would, and has another worker take the job over: every
// follower gets the tweet once.
func TestFanOutKilledAtEveryStep(t *testing.T) {
	// How many steps a job to 1,300 followers takes.
	steps := 0
	{
		s, _, author, _ := fanOutStore(t, 1300)
		if _, err := s.Post(context.Background(), author, "hello"); err != nil {
			t.Fatal(err)
		}
		msg := nextJob(t, s, "count")
		if err := s.runJob(context.Background(), "count", msg, fanOutHooks{afterStep: func(string) error { steps++; return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	if steps < 4 {
		t.Fatalf("a job of %d steps; want copy and push steps both", steps)
	}
	errKilled := errors.New("killed")
	for k := 1; k <= steps; k++ {
		t.Run(fmt.Sprintf("killed after step %d of %d", k, steps), func(t *testing.T) {
			s, rdb, author, followers := fanOutStore(t, 1300)
			ctx := context.Background()
			id := mustPost(t, s, author, "hello")
			msg := nextJob(t, s, "first")
			n := 0
			err := s.runJob(ctx, "first", msg, fanOutHooks{afterStep: func(string) error {
				if n++; n == k {
					return errKilled
				}
				return nil
			}})
			if !errors.Is(err, errKilled) {
				t.Fatalf("the job ran to %v", err)
			}
			// The first worker is gone; another takes its idle job over.
			time.Sleep(2 * s.jobIdle)
			if err := s.DrainFanOut(ctx, "second"); err != nil {
				t.Fatal(err)
			}
			exactlyOnce(t, rdb, id, followers)
			noJobsLeft(t, rdb)
			if r := s.FanOutStats().Retried; r != 1 {
				t.Errorf("the job was taken over %d times; want 1", r)
			}
		})
	}
}

// TestFanOutTwoWorkersAtOnce: a worker thought dead comes back while another
// runs its job; the two run it together, and every follower still gets the
// tweet once.
func TestFanOutTwoWorkersAtOnce(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 3000)
	ctx := context.Background()
	id := mustPost(t, s, author, "hello")
	msg := nextJob(t, s, "first")
	var wg sync.WaitGroup
	for _, name := range []string{"first", "second", "third"} {
		wg.Go(func() {
			if err := s.runJob(ctx, name, msg, fanOutHooks{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	exactlyOnce(t, rdb, id, followers)
	noJobsLeft(t, rdb)
}

// TestFanOutFollowsDuringTheJob defines what a follow or unfollow during a
// job does: a user who follows after the post never gets the tweet (the
// job serves the followers of the moment of the post); one who unfollows
// after the job copied the followers still gets it.
func TestFanOutFollowsDuringTheJob(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 1300)
	ctx := context.Background()
	s.now = func() time.Time { return time.Unix(5000, 0) }
	id := mustPost(t, s, author, "hello")
	newcomer, leaver := "9999", followers[0]
	msg := nextJob(t, s, "w")
	err := s.runJob(ctx, "w", msg, fanOutHooks{afterStep: func(phase string) error {
		if phase == "copy" {
			rdb.ZAdd(ctx, "follower:"+author, redis.Z{Score: 6000, Member: newcomer})
		}
		if phase == "push" {
			rdb.ZRem(ctx, "follower:"+author, leaver)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := timelineCounts(t, rdb, id, []string{newcomer})[newcomer]; n != 0 {
		t.Errorf("a user who followed after the post got the tweet %d times", n)
	}
	exactlyOnce(t, rdb, id, followers)
	noJobsLeft(t, rdb)
}

// TestFanOutWorkersUnderConcurrentPosts: authors post at once while three
// workers run; each follower gets each tweet once.
func TestFanOutWorkersUnderConcurrentPosts(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 1500)
	ctx := context.Background()
	other, _ := mustRegister(t, s, "other")
	for _, f := range followers[:800] {
		rdb.ZAdd(ctx, "follower:"+other, redis.Z{Score: 1000, Member: f})
	}
	wctx, stop := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for i := range 3 {
		workers.Go(func() { s.RunFanOut(wctx, "worker-"+strconv.Itoa(i)) })
	}
	var posts sync.WaitGroup
	ids := make(chan [2]string, 20)
	for i := range 10 {
		posts.Go(func() {
			who := author
			if i%2 == 1 {
				who = other
			}
			id, err := s.Post(ctx, who, "post "+strconv.Itoa(i))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- [2]string{who, id}
		})
	}
	posts.Wait()
	close(ids)
	jobsDrain(rdb, 20*time.Second)
	stop()
	workers.Wait()
	for p := range ids {
		if p[0] == author {
			exactlyOnce(t, rdb, p[1], followers)
		} else {
			exactlyOnce(t, rdb, p[1], followers[:800])
		}
	}
	noJobsLeft(t, rdb)
}

// TestFanOutAfterAWipe: a worker whose database is wiped under it makes
// the job stream's group again and runs the next job, and says so in the
// log, not as a failure with no error.
func TestFanOutAfterAWipe(t *testing.T) {
	srv := redistest.Start(t)
	if srv.InProcess() {
		t.Skip("the stand-in neither blocks reads nor lists clients as redis-server does")
	}
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	var logs strings.Builder
	s := New(rdb, testHasher, slog.New(slog.NewTextHandler(&logs, nil)))
	s.inlineFanOut = 1
	ctx := context.Background()
	wctx, stop := context.WithCancel(ctx)
	var worker sync.WaitGroup
	worker.Go(func() { s.RunFanOut(wctx, "w") })
	// Wiped while the worker waits in a read, as it mostly does.
	blocked := func() bool {
		for _, c := range strings.Split(rdb.ClientList(ctx).Val(), "\n") {
			if strings.Contains(c, " flags=b") && strings.Contains(c, " cmd=xreadgroup ") {
				return true
			}
		}
		return false
	}
	for !blocked() {
		time.Sleep(10 * time.Millisecond)
	}
	rdb.FlushDB(ctx)

	alice, followers := aliceFollowed(t, s, "bob", "carol", "dave")
	id := mustPost(t, s, alice, "after the wipe")
	jobsDrain(rdb, 10*time.Second)
	stop()
	worker.Wait()
	exactlyOnce(t, rdb, id, followers)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, l := range lines {
		if !strings.Contains(l, "the job stream was gone, as after a wipe of the database; made it again") {
			t.Errorf("the log after the wipe has %q; want only that the stream was made again", l)
		}
	}
}

// TestFanOutWorkerWaitsForRedis: a worker started while Redis does not
// answer (pytwask started first at boot, or Redis still loading its data)
// waits for it, and then runs the jobs. It stopped for good before, and
// posts to many followers never reached them until a restart.
func TestFanOutWorkerWaitsForRedis(t *testing.T) {
	srv := redistest.Start(t)
	if srv.InProcess() {
		t.Skip("the stand-in's restart is not a redis-server's")
	}
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, slog.New(slog.DiscardHandler))
	s.inlineFanOut = 1
	ctx := context.Background()
	srv.Stop()
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { s.RunFanOut(wctx, "w"); close(stopped) }()
	time.Sleep(300 * time.Millisecond) // it meets no Redis
	select {
	case <-stopped:
		t.Fatal("the worker stopped while Redis was not answering")
	default:
	}
	srv.Restart()

	alice, followers := aliceFollowed(t, s, "bob", "carol")
	id := mustPost(t, s, alice, "after Redis came")
	jobsDrain(rdb, 10*time.Second)
	stop()
	<-stopped
	exactlyOnce(t, rdb, id, followers)
}

// TestFanOutSurvivesRedisRestart: Redis is killed in the middle of a job and
// restarts from its append-only file; no acknowledged post is lost, and the
// job, taken up again, reaches every follower once.
func TestFanOutSurvivesRedisRestart(t *testing.T) {
	srv := redistest.StartPersistent(t)
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	s.inlineFanOut, s.jobIdle = 10, 50*time.Millisecond
	ctx := context.Background()
	author, _ := mustRegister(t, s, "author")
	var followers []string
	for i := range 1300 {
		f := strconv.Itoa(i + 2)
		followers = append(followers, f)
		rdb.ZAdd(ctx, "follower:"+author, redis.Z{Score: 1000, Member: f})
	}
	id := mustPost(t, s, author, "hello")
	msg := nextJob(t, s, "first")
	pushes := 0
	errKilled := errors.New("killed")
	err := s.runJob(ctx, "first", msg, fanOutHooks{afterStep: func(phase string) error {
		if phase == "push" {
			if pushes++; pushes == 1 {
				srv.Stop() // SIGKILL
				return errKilled
			}
		}
		return nil
	}})
	if !errors.Is(err, errKilled) {
		t.Fatalf("the job ran to %v", err)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(ctx).Err() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if rdb.HGet(ctx, "tweet:"+id, "body").Val() != "hello" {
		t.Fatal("the acknowledged post was lost")
	}
	time.Sleep(2 * s.jobIdle)
	if err := s.DrainFanOut(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rdb, id, followers)
	noJobsLeft(t, rdb)
}

// TestFanOutUnfollowsAtTheCopyPlace: between copy steps, the follower the
// copy stopped at and followers before it unfollow (the place it kept is
// gone, and ranks shift). Every follower who stays gets the tweet once.
func TestFanOutUnfollowsAtTheCopyPlace(t *testing.T) {
	s, rdb, author, followers := fanOutStore(t, 3*fanOutChunk+50)
	ctx := context.Background()
	s.now = func() time.Time { return time.Unix(5000, 0) }
	id := mustPost(t, s, author, "hello")
	gone := map[string]bool{}
	msg := nextJob(t, s, "w")
	err := s.runJob(ctx, "w", msg, fanOutHooks{afterStep: func(phase string) error {
		if phase != "copy" {
			return nil
		}
		last := rdb.HGet(ctx, fanOutJobKey(msg.ID), "last").Val()
		if last == "" {
			return nil
		}
		rank := rdb.ZRank(ctx, "follower:"+author, last).Val()
		for _, f := range rdb.ZRange(ctx, "follower:"+author, max(0, rank-3), rank).Val() {
			rdb.ZRem(ctx, "follower:"+author, f)
			gone[f] = true
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) == 0 {
		t.Fatal("nobody unfollowed; the test tested nothing")
	}
	var stayed []string
	for _, f := range followers {
		if !gone[f] {
			stayed = append(stayed, f)
		}
	}
	exactlyOnce(t, rdb, id, stayed)
	noJobsLeft(t, rdb)
}

// TestFanOutGoesOnOnAnotherServer: a job stopped part-way through copying
// the followers goes on on another server holding the same data, as it
// does on the replica after a failover (each server hashes with its own
// seed, so a ZSCAN cursor of one means nothing to the other). Every
// follower gets the tweet once.
func TestFanOutGoesOnOnAnotherServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the in-process Redis does not stand for two servers")
	}
	s, rdb, author, followers := fanOutStore(t, 4*fanOutChunk+30)
	ctx := context.Background()
	id := mustPost(t, s, author, "hello")
	msg := nextJob(t, s, "w")
	steps := 0
	errStop := errors.New("stopped")
	err := s.runJob(ctx, "w", msg, fanOutHooks{afterStep: func(string) error {
		if steps++; steps == 2 {
			return errStop
		}
		return nil
	}})
	if !errors.Is(err, errStop) {
		t.Fatalf("runJob = %v", err)
	}

	// The other server gets every key, as a replica has them.
	other := redistest.Start(t)
	rdb2 := other.Client()
	defer rdb2.Close()
	for _, key := range rdb.Keys(ctx, "*").Val() {
		dump := rdb.Dump(ctx, key).Val()
		if err := rdb2.Restore(ctx, key, 0, dump).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s2 := New(rdb2, testHasher, nil)
	if err := s2.runJob(ctx, "w", msg, fanOutHooks{}); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, rdb2, id, followers)
}

// TestFanOutSkipsAccountsBeingDeleted: a follower whose account's deletion
// began after a job read the follower set, and removed the timeline, gets
// no timeline again from the job, for a post or for a repost, on one
// server and on a Cluster: nothing would ever remove it.
func TestFanOutSkipsAccountsBeingDeleted(t *testing.T) {
	onBoth(t, testFanOutSkipsAccountsBeingDeleted)
}

func testFanOutSkipsAccountsBeingDeleted(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	s.inlineFanOut = -1
	ann, _ := mustRegister(t, s, "ann")
	bob, bobSecret := mustRegister(t, s, "bob")
	cal, _ := mustRegister(t, s, "cal")
	for _, f := range []struct{ who, whom string }{{bob, "ann"}, {cal, "ann"}, {cal, "bob"}} {
		if err := s.Follow(ctx, f.who, f.whom); err != nil {
			t.Fatal(err)
		}
	}
	id := mustPost(t, s, ann, "to bob and cal")
	if err := s.Repost(ctx, bobSecret, id, true); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, userKey(cal), fieldDeleted, time.Now().Unix())
	rdb.Del(ctx, timelineKey(cal))
	if err := s.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if got := rdb.LRange(ctx, timelineKey(bob), 0, -1).Val(); len(got) != 1 || got[0] != id {
		t.Errorf("bob's timeline holds %v; want [%s]", got, id)
	}
	for _, k := range []string{timelineKey(cal), viaKey(cal)} {
		if rdb.Exists(ctx, k).Val() != 0 {
			t.Errorf("%s is made again for an account being deleted", k)
		}
	}
}

// A post's fan-out job that runs behind many newer posts lists it once. On
// a Cluster the job pushes onto the author's lists again, to finish a post
// cut short, and must find the tweet however deep it is by then.
func TestLateFanOutJobListsOnce(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		ann, annSecret := mustRegister(t, s, "ann")
		ben, _ := mustRegister(t, s, "ben")
		parent := mustPost(t, s, ben, "ben's")
		const replies = recentEntries + 50
		for i := range replies {
			if _, err := s.Reply(ctx, annSecret, parent, fmt.Sprintf("late #job %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DrainFanOut(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			key  string
			want int
		}{{tweetsByKey(ann), replies}, {timelineKey(ann), replies}, {keyGeneralTimeline, replies + 1}, {tagKey("job"), replies}, {repliesKey(parent), replies}} {
			l := rdb.LRange(ctx, c.key, 0, -1).Val()
			seen := map[string]bool{}
			for _, id := range l {
				if seen[id] {
					t.Errorf("%s holds tweet %s twice", c.key, id)
					break
				}
				seen[id] = true
			}
			if len(l) != c.want {
				t.Errorf("%s holds %d tweets; want %d", c.key, len(l), c.want)
			}
		}
		if n := rdb.HGet(ctx, tweetKey(parent), fieldReplies).Val(); n != strconv.Itoa(replies) {
			t.Errorf("ben's tweet counts %s replies; want %d", n, replies)
		}
	})
}
