package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRandomOperations runs long random mixes of what users do (post,
// reply, mention, tag, like, repost, follow, edit, delete a tweet, delete
// an account, read notifications), one at a time and then four at once
// beside two fan-out workers, and checks that Redis then holds nothing a
// reader could trip on (checkWhole). Seeded: a failure of the one-at-a-time
// runs repeats. RANDOM_SEEDS=n runs n seeds of each, here and on a Cluster.
func TestRandomOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	for seed := range randomSeeds(3) {
		t.Run(fmt.Sprintf("one at a time, seed %d", seed), func(t *testing.T) {
			s, rdb := newStore(t)
			newWorld(t, s, rdb).oneAtATime(seed, 400)
		})
		t.Run(fmt.Sprintf("four at once, seed %d", seed), func(t *testing.T) {
			s, rdb := newStore(t)
			newWorld(t, s, rdb).fourAtOnce(seed)
		})
	}
}

// TestRandomOperationsOnCluster is TestRandomOperations on a Redis Cluster,
// whose single-key steps differ from one server's scripts.
func TestRandomOperationsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	s, rdb, _ := clusterStore(t)
	for seed := range randomSeeds(2) {
		flushAll(t, rdb)
		newWorld(t, s, rdb).oneAtATime(seed, 300)
		flushAll(t, rdb)
		newWorld(t, s, rdb).fourAtOnce(seed)
	}
}

// TestRandomOperationsWhileFull is TestRandomOperations with Redis full
// (maxmemory of one byte) for a third of the steps, at random, on one
// server and on a Cluster. A write then is refused at its first step
// (WritesRefused), which users are told, or done whole, as an unfollow
// is; a read never fails. Every 50 steps, with room again, the fan-out
// jobs and the indexer run, and Redis holds nothing a reader could trip
// on.
func TestRandomOperationsWhileFull(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	s, rdb := newStore(t)
	if rdb.ConfigSet(t.Context(), "maxmemory", "0").Err() != nil {
		t.Skip("needs redis-server: the in-memory stand-in has no maxmemory")
	}
	cs, crdb, _ := clusterStore(t)
	for seed := range randomSeeds(2) {
		for _, on := range []struct {
			name string
			s    *Store
			rdb  redis.UniversalClient
		}{{"one server", s, rdb}, {"Cluster", cs, crdb}} {
			t.Run(fmt.Sprintf("%s, seed %d", on.name, seed), func(t *testing.T) {
				flushAll(t, on.rdb)
				w := newWorld(t, on.s, on.rdb)
				rng := rand.New(rand.NewPCG(seed, 2))
				for step := range 400 {
					w.full = rng.IntN(3) == 0
					setFull(t, on.s, w.full)
					w.step(rng, step)
					setFull(t, on.s, false)
					if step%50 == 49 {
						w.drain()
						checkWhole(t, on.rdb, fmt.Sprintf("seed %d, after step %d", seed, step))
						w.checkLayout()
					}
				}
			})
		}
	}
}

// setFull makes Redis full (maxmemory of one byte, with nothing it may
// evict), every primary of a Cluster, or gives it room.
func setFull(t testing.TB, s *Store, full bool) {
	t.Helper()
	limit := "0" // none
	if full {
		limit = "1"
	}
	err := s.forEachPrimary(context.Background(), func(ctx context.Context, c redis.Cmdable) error {
		return c.ConfigSet(ctx, "maxmemory", limit).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flushAll empties the one server or every primary of the Cluster.
func flushAll(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	flush := func(ctx context.Context, c *redis.Client) error { return c.FlushDB(ctx).Err() }
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(context.Background(), flush)
	} else {
		err = flush(context.Background(), rdb.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// randomSeeds is the seeds to run: RANDOM_SEEDS of them, or n.
func randomSeeds(n uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("RANDOM_SEEDS"), 10, 64); err == nil {
		return v
	}
	return n
}

// fourAtOnce runs four users' 150 random steps each at once, beside two
// fan-out workers and the search indexer, and then checks the data.
func (w *world) fourAtOnce(seed uint64) {
	ctx, stop := context.WithCancel(context.Background())
	var workers, users sync.WaitGroup
	for i := range 2 {
		workers.Go(func() { w.s.RunFanOut(ctx, "worker-"+strconv.Itoa(i)) })
	}
	workers.Go(func() { w.s.RunIndexer(ctx, 5*time.Millisecond) })
	for i := range uint64(4) {
		users.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 10+i))
			for step := range 150 {
				w.step(rng, step)
			}
		})
	}
	users.Wait()
	stop()
	workers.Wait()
	w.drain()
	checkWhole(w.t, w.rdb, fmt.Sprintf("seed %d, at the end", seed))
	w.checkLayout()
}

// oneAtATime runs steps random steps, and checks the data every 50.
func (w *world) oneAtATime(seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for step := range steps {
		w.step(rng, step)
		if step%50 == 49 {
			w.drain()
			checkWhole(w.t, w.rdb, fmt.Sprintf("seed %d, after step %d", seed, step))
			w.checkLayout()
		}
	}
}

// world is the users and tweets of a random run.
type world struct {
	t   *testing.T
	s   *Store
	rdb redis.UniversalClient

	mu     sync.Mutex
	users  []randomUser
	tweets []string
	named  int

	// full: Redis is full for this step, and may refuse its writes.
	full bool
}

type randomUser struct{ name, id, secret string }

func newWorld(t *testing.T, s *Store, rdb redis.UniversalClient) *world {
	s.inlineFanOut = 2 // most posts leave a fan-out job
	w := &world{t: t, s: s, rdb: rdb}
	for range 6 {
		w.register("")
	}
	return w
}

// register signs up a user of that name, or a new name for "".
func (w *world) register(name string) {
	if name == "" {
		w.mu.Lock()
		w.named++
		name = fmt.Sprintf("user%d", w.named)
		w.mu.Unlock()
	}
	ctx := context.Background()
	if err := w.s.Register(ctx, name, "Passw0rd!"); err != nil {
		w.t.Errorf("register %s: %v", name, err)
		return
	}
	secret, err := w.s.Login(ctx, "", name, "Passw0rd!")
	if err != nil {
		w.t.Errorf("sign in %s: %v", name, err)
		return
	}
	v, err := w.s.Authenticate(ctx, secret)
	if err != nil {
		w.t.Errorf("authenticate %s: %v", name, err)
		return
	}
	w.mu.Lock()
	w.users = append(w.users, randomUser{name, v.ID, secret})
	w.mu.Unlock()
}

func (w *world) pick(rng *rand.Rand) randomUser {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.users[rng.IntN(len(w.users))]
}

func (w *world) tweet(rng *rand.Rand) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tweets) == 0 {
		return "1"
	}
	return w.tweets[rng.IntN(len(w.tweets))]
}

// rotated records the user's new secret.
func (w *world) rotated(id, secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.users {
		if w.users[i].id == id {
			w.users[i].secret = secret
		}
	}
}

func (w *world) posted(id string) {
	w.mu.Lock()
	w.tweets = append(w.tweets, id)
	w.mu.Unlock()
}

// text is a tweet of a few words, tags and mentions.
func (w *world) text(rng *rand.Rand) string {
	words := []string{"hello", "#go", "#Redis", "words"}
	for range rng.IntN(3) {
		words = append(words, "@"+w.pick(rng).name)
	}
	rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	return strings.Join(words[:1+rng.IntN(len(words))], " ")
}

// step does one random thing as a random user. A refusal (the tweet or
// user is gone, or not theirs) is an answer users get; any other error
// fails the test.
func (w *world) step(rng *rand.Rand, step int) {
	ctx := context.Background()
	s, u := w.s, w.pick(rng)
	var err error
	op := rng.IntN(19)
	switch op {
	case 0, 1:
		var id string
		if id, err = s.PostAs(ctx, u.secret, w.text(rng)); err == nil {
			w.posted(id)
		}
	case 2, 3:
		var id string
		if id, err = s.Reply(ctx, u.secret, w.tweet(rng), w.text(rng)); err == nil {
			w.posted(id)
		}
	case 4:
		err = s.Like(ctx, u.secret, w.tweet(rng), rng.IntN(3) > 0)
	case 5:
		err = s.Repost(ctx, u.secret, w.tweet(rng), rng.IntN(3) > 0)
	case 6:
		err = s.Follow(ctx, u.id, w.pick(rng).name)
	case 7:
		err = s.Unfollow(ctx, u.id, w.pick(rng).name)
	case 8:
		_, err = s.EditTweet(ctx, u.secret, w.tweet(rng), w.text(rng), DefaultEditWindow)
	case 9, 10:
		err = s.DeleteTweet(ctx, u.secret, w.tweet(rng))
	case 11:
		if rng.IntN(4) > 0 {
			break
		}
		if err = s.DeleteAccount(ctx, "", u.secret, "Passw0rd!", 0); err == nil {
			w.mu.Lock()
			before := len(w.users)
			w.users = slices.DeleteFunc(w.users, func(x randomUser) bool { return x.id == u.id })
			first := len(w.users) < before // not a second deletion at once
			w.mu.Unlock()
			// Someone else takes the name at once (no hold here), or half
			// the time a new name comes.
			name := u.name
			if rng.IntN(2) == 0 || !first {
				name = ""
			}
			w.register(name)
		}
	case 12:
		_, _, _, err = s.Notifications(ctx, u.secret, 0, 20)
	case 15:
		// A password change, or a sign-out and in again: the secret
		// rotates, and other sessions of the user end.
		var secret string
		if rng.IntN(2) == 0 {
			if secret, err = s.ChangePassword(ctx, "", u.secret, "Passw0rd!", "N3w-Passw0rd"); err == nil {
				secret, err = s.ChangePassword(ctx, "", secret, "N3w-Passw0rd", "Passw0rd!")
			}
		} else if err = s.Logout(ctx, u.secret); err == nil {
			secret, err = s.Login(ctx, "", u.name, "Passw0rd!")
		}
		if err == nil {
			w.rotated(u.id, secret)
		}
	case 16:
		err = w.read(ctx, u.secret)
	case 17:
		// An address confirmed (from a few, which users then contend
		// for), or removed.
		if rng.IntN(3) == 0 {
			_, err = s.RemoveAddress(ctx, u.secret)
			break
		}
		var token string
		if token, err = s.AddressToken(ctx, u.secret, fmt.Sprintf("a%d@example.com", rng.IntN(4))); err == nil {
			_, err = s.ConfirmAddress(ctx, token)
		}
	case 18:
		// A password reset by link: it ends every session, so the user
		// signs in again.
		var token, secret string
		if token, err = s.ResetTokenFor(ctx, u.name); err == nil {
			if err = s.ResetPassword(ctx, "", token, "Passw0rd!"); err == nil {
				secret, err = s.Login(ctx, "", u.name, "Passw0rd!")
			}
		}
		if err == nil {
			w.rotated(u.id, secret)
		}
	default:
		err = s.DrainFanOut(ctx, "test")
	}
	var refusal *Error
	switch {
	case err == nil || errors.As(err, &refusal):
	case w.full && WritesRefused(err) && op != 12 && op != 16: // not a read
	default:
		w.t.Errorf("step %d, operation %d by %s: %v", step, op, u.name, err)
	}
}

// read reads what a user's pages show: their timeline, everybody's, their
// own tweets, a tag, a search and each tweet's page.
func (w *world) read(ctx context.Context, secret string) error {
	s := w.s
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return err
	}
	for _, f := range []Feed{Own, General} {
		if _, _, err := s.Timeline(ctx, secret, f, 0, 20); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
	}
	if _, _, err := s.UserTweets(ctx, secret, v.Username, 0, 20); err != nil {
		return fmt.Errorf("own tweets: %w", err)
	}
	if _, _, err := s.TagTweets(ctx, secret, "go", 0, 20); err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	q, err := ParseQuery("hello #redis")
	if err != nil {
		return err
	}
	if _, _, err := s.SearchTweets(ctx, secret, q, 0, 20); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	w.mu.Lock()
	tweets := slices.Clone(w.tweets)
	w.mu.Unlock()
	for _, id := range tweets {
		var refusal *Error
		if _, _, err := s.TweetConversation(ctx, secret, id, 0, 20); err != nil && !errors.As(err, &refusal) {
			return fmt.Errorf("the page of tweet %s: %w", id, err)
		}
	}
	return nil
}

// checkLayout runs pytwask check's look at pytwis's keys.
func (w *world) checkLayout() {
	w.t.Helper()
	problems, _, err := w.s.CheckLayout(context.Background(), 10_000)
	if err != nil || len(problems) > 0 {
		w.t.Errorf("the pytwis layout: %v, %v", problems, err)
	}
}

// drain runs the fan-out jobs and the search indexer to their ends, as the
// workers would.
func (w *world) drain() {
	w.t.Helper()
	ctx := context.Background()
	if err := w.s.DrainFanOut(ctx, "test"); err != nil {
		w.t.Fatal(err)
	}
	for {
		n, err := w.s.IndexSearch(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// checkWhole fails the test for what a reader could trip on, with the
// fan-out jobs done: a listed id whose hash lacks pytwis's fields; an id
// listed twice; a deleted tweet on a list (but a former follower's
// timeline, which nothing lists); a repost mark of a tweet not there;
// a count that differs from what it counts; a like, a repost or a follow
// held on one side only; a tag's or a word's list that lacks a tweet with
// it, or lists one without, and the same of replies and of the names a
// search finds; a deleted account that keeps lists, sets or
// notifications, or is followed; more unread than notifications; a
// notification about a deleted tweet or by a deleted account.
func checkWhole(t *testing.T, rdb redis.UniversalClient, at string) {
	t.Helper()
	ctx := context.Background()
	keys := func(pattern string) []string {
		c, ok := rdb.(*redis.ClusterClient)
		if !ok {
			k, err := rdb.Keys(ctx, pattern).Result()
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		var mu sync.Mutex
		var all []string
		if err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			k, err := n.Keys(ctx, pattern).Result()
			mu.Lock()
			all = append(all, k...)
			mu.Unlock()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return all
	}
	deleted := func(key string) bool { return rdb.HExists(ctx, key, fieldDeleted).Val() }
	// A tweet still marked posting once the jobs are done is a post cut
	// off before its job, on a Cluster: a hash no reader is to find.
	orphan := func(key string) bool { return rdb.HExists(ctx, key, fieldPosting).Val() }
	lists := append(keys(prefixTimeline+"*"), keys(prefixTweetsBy+"*")...)
	lists = append(lists, keyGeneralTimeline)
	lists = append(lists, keys(prefixTag+"*")...)
	lists = append(lists, keys(prefixReplies+"*")...)
	lists = append(lists, keys(prefixWord+"*")...)
	for _, l := range lists {
		ids := rdb.LRange(ctx, l, 0, -1).Val()
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
			t.Errorf("%s: %s holds a tweet twice: %v", at, l, ids)
		}
		for _, id := range ids {
			f := rdb.HMGet(ctx, tweetKey(id), fieldTweetUserID, fieldTweetTime, fieldTweetBody).Val()
			if slices.Contains(f, nil) {
				t.Errorf("%s: %s holds %s, whose hash is %v", at, l, id, f)
				continue
			}
			if deleted(tweetKey(id)) && (!strings.HasPrefix(l, prefixTimeline) || l == timelineKey(str(f[0]))) {
				t.Errorf("%s: %s holds the deleted tweet %s", at, l, id)
			}
		}
	}
	for _, k := range keys(prefixTweet + "*") {
		id := strings.TrimPrefix(k, prefixTweet)
		if deleted(k) || orphan(k) {
			continue
		}
		h := rdb.HGetAll(ctx, k).Val()
		count := func(field string, n int64) {
			if got, _ := strconv.ParseInt(h[field], 10, 64); got != n {
				t.Errorf("%s: tweet %s has %s %d; its list or set holds %d", at, id, field, got, n)
			}
		}
		count(fieldLikes, rdb.SCard(ctx, likesKey(id)).Val())
		count(fieldReposts, rdb.SCard(ctx, repostsKey(id)).Val())
		count(fieldReplies, rdb.LLen(ctx, repliesKey(id)).Val())
		for _, tag := range tagsOf(h[fieldTweetBody]) {
			if rdb.LPos(ctx, tagKey(tag), id, redis.LPosArgs{}).Err() != nil {
				t.Errorf("%s: tweet %s has #%s, whose list lacks it", at, id, tag)
			}
		}
		for _, w := range wordsOf(h[fieldTweetBody]) {
			if rdb.LPos(ctx, wordKey(w), id, redis.LPosArgs{}).Err() != nil {
				t.Errorf("%s: tweet %s has the word %q, whose list lacks it", at, id, w)
			}
		}
	}
	// A reply is listed under the tweet it answers (while that stands),
	// and only replies are.
	for _, k := range keys(prefixTweet + "*") {
		id := strings.TrimPrefix(k, prefixTweet)
		parent := rdb.HGet(ctx, k, fieldReplyTo).Val()
		if parent != "" && !deleted(k) && !orphan(k) && !deleted(tweetKey(parent)) && rdb.LPos(ctx, repliesKey(parent), id, redis.LPosArgs{}).Err() != nil {
			t.Errorf("%s: the reply %s is not listed under tweet %s", at, id, parent)
		}
	}
	for _, k := range keys(prefixReplies + "*") {
		parent := strings.TrimSuffix(strings.TrimPrefix(k, prefixReplies+"{"+prefixTweet), "}")
		for _, id := range rdb.LRange(ctx, k, 0, -1).Val() {
			if to := rdb.HGet(ctx, tweetKey(id), fieldReplyTo).Val(); to != parent {
				t.Errorf("%s: %s lists tweet %s, which replies to %q", at, k, id, to)
			}
		}
	}
	// The names a search finds are the users', and every user's.
	users := rdb.HGetAll(ctx, keyUsers).Val()
	for _, m := range rdb.ZRange(ctx, keyNames, 0, -1).Val() {
		_, name, _ := strings.Cut(m, " ")
		if id, ok := users[name]; !ok || deleted(userKey(id)) {
			t.Errorf("%s: a search finds the name %q, which is nobody's", at, name)
		}
	}
	for name := range users {
		if rdb.ZScore(ctx, keyNames, FoldUsername(name)+" "+name).Err() != nil {
			t.Errorf("%s: a search does not find the user %s", at, name)
		}
	}
	// A tag's or a word's list holds only tweets that have it.
	for _, index := range []struct {
		prefix string
		of     func(string) []string
	}{{prefixTag, tagsOf}, {prefixWord, wordsOf}} {
		for _, k := range keys(index.prefix + "*") {
			for _, id := range rdb.LRange(ctx, k, 0, -1).Val() {
				if orphan(tweetKey(id)) {
					t.Errorf("%s: %s lists tweet %s, whose post was cut off before it was listed", at, k, id)
				}
				if !deleted(tweetKey(id)) && !slices.Contains(index.of(rdb.HGet(ctx, tweetKey(id), fieldTweetBody).Val()), strings.TrimPrefix(k, index.prefix)) {
					t.Errorf("%s: %s lists tweet %s, whose text is %q", at, k, id, rdb.HGet(ctx, tweetKey(id), fieldTweetBody).Val())
				}
			}
		}
	}
	// both checks that every member m of each key one(x) has x in other(m).
	both := func(one, other func(string) string, members func(key string) []string, has func(key, member string) bool) {
		head, tail, _ := strings.Cut(one("*"), "*")
		for _, k := range keys(one("*")) {
			x := strings.TrimSuffix(strings.TrimPrefix(k, head), tail)
			for _, m := range members(k) {
				if !has(other(m), x) {
					t.Errorf("%s: %s holds %s, but %s lacks %s", at, k, m, other(m), x)
				}
			}
		}
	}
	sets := func(k string) []string { return rdb.SMembers(ctx, k).Val() }
	inSet := func(k, m string) bool { return rdb.SIsMember(ctx, k, m).Val() }
	zsets := func(k string) []string { return rdb.ZRange(ctx, k, 0, -1).Val() }
	inZSet := func(k, m string) bool { return rdb.ZScore(ctx, k, m).Err() == nil }
	both(likesKey, likedKey, sets, inSet)
	both(likedKey, likesKey, sets, inSet)
	both(repostsKey, repostedKey, sets, inSet)
	both(repostedKey, repostsKey, sets, inSet)
	both(followingKey, followerKey, zsets, inZSet)
	both(followerKey, followingKey, zsets, inZSet)
	// A deleted account holds nothing but its tombstone, and is nobody's
	// follow.
	for _, k := range keys(prefixUser + "*") {
		u := strings.TrimPrefix(k, prefixUser)
		if !deleted(k) {
			continue
		}
		for _, own := range []string{followerKey(u), followingKey(u), timelineKey(u), tweetsByKey(u), viaKey(u),
			notificationsKey(u), unreadKey(u), likedKey(u), repostedKey(u)} {
			if rdb.Exists(ctx, own).Val() != 0 {
				t.Errorf("%s: the deleted account %s keeps %s", at, u, own)
			}
		}
	}
	for _, k := range keys(prefixVia + "*") {
		u := strings.TrimSuffix(strings.TrimPrefix(k, prefixVia+"{"+prefixTimeline), "}")
		listed := rdb.LRange(ctx, timelineKey(u), 0, -1).Val()
		for id, via := range rdb.HGetAll(ctx, k).Val() {
			if !slices.Contains(listed, id) {
				t.Errorf("%s: %s marks tweet %s (%s), which timeline:%s lacks", at, k, id, via, u)
			}
		}
	}
	for _, k := range keys(prefixEmail + "*") {
		uid, addr := strings.TrimPrefix(k, prefixEmail), rdb.Get(ctx, k).Val()
		if owner := rdb.Get(ctx, emailUserKey(addr)).Val(); owner != uid {
			t.Errorf("%s: user %s has the address %s, which is user %q's", at, uid, addr, owner)
		}
		if deleted(userKey(uid)) {
			t.Errorf("%s: the deleted account %s keeps the address %s", at, uid, addr)
		}
	}
	for _, k := range keys(prefixEmailUser + "*") {
		if uid := rdb.Get(ctx, k).Val(); !strings.EqualFold(prefixEmailUser+rdb.Get(ctx, emailKey(uid)).Val(), k) {
			t.Errorf("%s: %s names user %s, whose address is %q", at, k, uid, rdb.Get(ctx, emailKey(uid)).Val())
		}
	}
	for _, k := range keys(prefixUnread + "*") { // an emptied list is no key
		u := strings.TrimPrefix(k, prefixUnread)
		if unread, _ := rdb.Get(ctx, k).Int64(); unread < 0 || unread > rdb.LLen(ctx, notificationsKey(u)).Val() {
			t.Errorf("%s: user %s has %d unread of %d notifications", at, u, unread, rdb.LLen(ctx, notificationsKey(u)).Val())
		}
	}
	for _, k := range keys(prefixNotifications + "*") {
		u := strings.TrimPrefix(k, prefixNotifications)
		entries := rdb.LRange(ctx, k, 0, -1).Val()
		for _, e := range entries {
			f := strings.Fields(e)
			switch {
			case len(f) != 4:
				t.Errorf("%s: user %s has the notification %q", at, u, e)
			case f[2] != "-" && (deleted(tweetKey(f[2])) || rdb.Exists(ctx, tweetKey(f[2])).Val() == 0):
				t.Errorf("%s: user %s is told %q, of a deleted tweet", at, u, e)
			case deleted(userKey(f[1])):
				t.Errorf("%s: user %s is told %q, by a deleted account", at, u, e)
			}
		}
	}
}
