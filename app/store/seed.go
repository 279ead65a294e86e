package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
)

// SeedOptions describe a demo or benchmark data set.
type SeedOptions struct {
	Users, Follows, Tweets int
	// Celebrities is how many users (the first ones) everybody else follows
	// too, for measuring a post that fans out to every user.
	Celebrities int
	// Password is every seeded user's password. It is hashed once: all seeded
	// users share one hash (and salt), which is fine for demo data only.
	Password string
	// Force allows adding to a database that already holds users.
	Force bool
	Rand  *rand.Rand
	Now   time.Time
}

// SeedResult says what Seed wrote.
type SeedResult struct {
	FirstUserID, FirstTweetID int64
	Names                     []string // the seeded usernames, by id
	FollowPairs               int
}

// Seed fills the database with a realistic data set in the pytwis layout: a
// random follow graph in which a few users are followed by many, then tweets
// fanned out to the followers' timelines as Post would (each as long as
// Post's trimming would have left it), and the general timeline trimmed to
// GeneralTimelineCap.
// It writes the same keys as Register, Follow and Post, but computes the
// timelines in memory and sends everything in large pipelines, which is
// hundreds of times faster than one Post per tweet.
func (s *Store) Seed(ctx context.Context, o SeedOptions) (SeedResult, error) {
	var res SeedResult
	switch {
	case o.Users < 1:
		return res, refuse(Invalid, "--users must be at least 1")
	case o.Follows < 0 || o.Follows >= o.Users && o.Users > 1 || o.Users == 1 && o.Follows > 0:
		return res, refuse(Invalid, "--follows must be from 0 to --users minus 1 (%d)", o.Users-1)
	case o.Celebrities < 0 || o.Celebrities > o.Users:
		return res, refuse(Invalid, "--celebrities must be from 0 to --users")
	case o.Tweets < 0:
		return res, refuse(Invalid, "--tweets must be 0 or more")
	case !password.Strong(o.Password):
		return res, ErrWeakPassword
	}
	existing, err := s.rdb.HLen(ctx, keyUsers).Result()
	if err != nil {
		return res, fmt.Errorf("seed: count users: %w", err)
	}
	if existing > 0 && !o.Force {
		return res, refuse(Conflict, "the database already holds %d pytwis users; seed adds to it only with --force", existing)
	}
	hash, err := s.hasher.Hash(o.Password)
	if err != nil {
		return res, err
	}

	// Reserve id ranges as Register and Post would, one INCR at a time.
	lastUser, err := s.rdb.IncrBy(ctx, keyNextUserID, int64(o.Users)).Result()
	if err != nil {
		return res, fmt.Errorf("seed: reserve user ids: %w", err)
	}
	lastTweet, err := s.rdb.IncrBy(ctx, keyNextTweetID, int64(o.Tweets)).Result()
	if err != nil {
		return res, fmt.Errorf("seed: reserve tweet ids: %w", err)
	}
	res.FirstUserID, res.FirstTweetID = lastUser-int64(o.Users)+1, lastTweet-int64(o.Tweets)+1
	uid := func(i int) string { return strconv.FormatInt(res.FirstUserID+int64(i), 10) }
	tid := func(i int) string { return strconv.FormatInt(res.FirstTweetID+int64(i), 10) }

	res.Names = make([]string, o.Users)
	for i := range res.Names {
		res.Names[i] = seedName(o.Rand, res.FirstUserID+int64(i))
	}
	if o.Force && existing > 0 {
		taken, err := s.rdb.HMGet(ctx, keyUsers, res.Names...).Result()
		if err != nil {
			return res, fmt.Errorf("seed: check names: %w", err)
		}
		for i, v := range taken {
			if v != nil {
				return res, refuse(Conflict, "username %s already exists", res.Names[i])
			}
		}
	}

	w := &pipeWriter{ctx: ctx, pipe: s.rdb.Pipeline()}
	start := o.Now.Add(-30 * 24 * time.Hour)

	// Users.
	for i, name := range res.Names {
		secret := newSecret()
		w.add(5, func(p redis.Pipeliner) {
			p.HSet(ctx, userKey(uid(i)), fieldUsername, name, fieldPasswordHash, hash, fieldAuth, secret)
			p.HSet(ctx, keyUsers, name, uid(i))
			p.HSet(ctx, keyAuths, secret, uid(i))
		})
	}

	// The follow graph: each user follows o.Follows others, most of them
	// drawn from a heavy-tailed distribution, so a few users have thousands
	// of followers and most have a handful, as on real sites.
	// followers[f] lists who follows f, with the time of the follow, so that
	// follower:<f> gets the same scores as following:<u>.
	type edge struct{ user, at int32 }
	followers := make([][]edge, o.Users)
	var zipf *rand.Zipf
	if o.Users > 1 {
		zipf = rand.NewZipf(o.Rand, 1.2, 8, uint64(o.Users-1))
	}
	perm := o.Rand.Perm(o.Users) // which users are the popular ones
	for u := range o.Users {
		chosen := make(map[int]bool, o.Follows+o.Celebrities)
		members := make([]redis.Z, 0, o.Follows+o.Celebrities)
		follow := func(f int) {
			chosen[f] = true
			at := int32(start.Unix()) - int32(o.Rand.IntN(30*24*3600))
			members = append(members, redis.Z{Score: float64(at), Member: uid(f)})
			followers[f] = append(followers[f], edge{int32(u), at})
		}
		for c := range o.Celebrities {
			if c != u {
				follow(c)
			}
		}
		for want := len(chosen) + o.Follows; len(chosen) < want; {
			f := o.Rand.IntN(o.Users)
			if o.Rand.IntN(10) < 7 {
				f = perm[zipf.Uint64()]
			}
			if f != u && !chosen[f] {
				follow(f)
			}
		}
		if len(members) > 0 {
			w.add(len(members), func(p redis.Pipeliner) { p.ZAdd(ctx, followingKey(uid(u)), members...) })
		}
		res.FollowPairs += len(members)
	}
	for f, fs := range followers {
		if len(fs) == 0 {
			continue
		}
		members := make([]redis.Z, len(fs))
		for i, e := range fs {
			members[i] = redis.Z{Score: float64(e.at), Member: uid(int(e.user))}
		}
		w.add(len(members), func(p redis.Pipeliner) { p.ZAdd(ctx, followerKey(uid(f)), members...) })
	}

	// Tweets, in id order, fanned out as Post does.
	timelines := make([]ring, o.Users)
	for u := range timelines {
		timelines[u] = newRing(uint64(res.FirstUserID) + uint64(u))
	}
	byAuthor := make([][]int32, o.Users)
	// The search index is written here for a database seeded from empty,
	// rather than left to the indexer.
	indexed := res.FirstTweetID == 1
	byWord := map[string][]int32{}
	span := o.Now.Sub(start)
	for i := range o.Tweets {
		author := o.Rand.IntN(o.Users)
		at := start.Add(time.Duration(float64(span) * float64(i+1) / float64(o.Tweets+1)))
		body := seedBody(o.Rand)
		w.add(3, func(p redis.Pipeliner) {
			p.HSet(ctx, tweetKey(tid(i)), fieldTweetUserID, uid(author), fieldTweetTime, at.Unix(), fieldTweetBody, body)
		})
		byAuthor[author] = append(byAuthor[author], int32(i))
		if indexed {
			for _, word := range wordsOf(body) {
				byWord[word] = append(byWord[word], int32(i))
			}
		}
		timelines[author].push(int32(i))
		for _, e := range followers[author] {
			timelines[e.user].push(int32(i))
		}
	}
	if err := w.flush(); err != nil {
		return res, err
	}
	// Oldest first into LPUSH leaves the newest at the head, as pytwis has it.
	lpush := func(key string, ids []int32) {
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			args := make([]any, n)
			for j, id := range ids[:n] {
				args[j] = tid(int(id))
			}
			ids = ids[n:]
			w.add(n, func(p redis.Pipeliner) { p.LPush(ctx, key, args...) })
		}
	}
	for u := range o.Users {
		if ids := byAuthor[u]; len(ids) > 0 {
			lpush(tweetsByKey(uid(u)), ids)
		}
		if ids := timelines[u].ordered(); len(ids) > 0 {
			lpush(timelineKey(uid(u)), ids)
		}
	}
	general := make([]int32, 0, min(o.Tweets, GeneralTimelineCap))
	for i := max(0, o.Tweets-GeneralTimelineCap); i < o.Tweets; i++ {
		general = append(general, int32(i))
	}
	if len(general) > 0 {
		lpush(keyGeneralTimeline, general)
		w.add(1, func(p redis.Pipeliner) { p.LTrim(ctx, keyGeneralTimeline, 0, GeneralTimelineCap-1) })
	}
	if indexed {
		for word, ids := range byWord {
			lpush(wordKey(word), ids[max(0, len(ids)-WordCap):])
		}
		w.add(2, func(p redis.Pipeliner) {
			p.Set(ctx, keySearchNext, lastTweet+1, 0)
			p.Set(ctx, keySearchVersion, searchVersion, 0)
		})
	}
	for i := 0; i < len(res.Names); i += 100 {
		names := res.Names[i:min(i+100, len(res.Names))]
		w.add(10*len(names), func(p redis.Pipeliner) { indexNames(ctx, p, names...) }) // a name has about 10 grams
	}
	return res, w.flush()
}

// pipeWriter sends commands in pipelines of about pipeValues values
// (fields, members, list items), so that each is answered well within the
// client's read timeout: by the in-process Redis of the fast tests too,
// whose LPUSH costs the list's length for each item (pipelines of 2000
// commands, lists included, took it over 2 s on a loaded machine).
type pipeWriter struct {
	ctx  context.Context
	pipe redis.Pipeliner
	n    int
	err  error
}

const pipeValues = 10_000

// add queues f's commands, which write about values values.
func (w *pipeWriter) add(values int, f func(redis.Pipeliner)) {
	if w.err != nil {
		return
	}
	f(w.pipe)
	if w.n += values; w.n >= pipeValues {
		w.err = w.flush()
	}
}

func (w *pipeWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.n == 0 {
		return nil
	}
	w.n = 0
	if _, err := w.pipe.Exec(w.ctx); err != nil {
		w.err = fmt.Errorf("seed: write: %w", err)
	}
	return w.err
}

// ring keeps the tweet indexes that posting them would have left in one
// timeline: the newest, as many as Post's trimming leaves (trimPoint), from
// the cap up to the trim point. Not all at the cap: timelines of one length
// have one layout in Redis's memory (the same list nodes, each as full), so
// 10,000 followers' timelines seeded at the cap grew in step, and every post
// that made their head nodes outgrow an allocation size had Redis allocate
// and fault in megabytes at once, making that post's fan-out much slower.
type ring struct {
	ids    []int32 // the newest, up to UserTimelineCap+UserTimelineSlack
	next   int
	len    int64 // the timeline's length
	trimAt int64 // trimPoint of its owner
}

func newRing(owner uint64) ring { return ring{trimAt: trimPoint(owner)} }

func (r *ring) push(id int32) {
	if r.len++; r.len > r.trimAt {
		r.len = UserTimelineCap
	}
	if len(r.ids) < UserTimelineCap+UserTimelineSlack {
		r.ids = append(r.ids, id)
		return
	}
	r.ids[r.next] = id
	r.next = (r.next + 1) % len(r.ids)
}

// ordered returns the ids the timeline holds, oldest first.
func (r *ring) ordered() []int32 {
	all := append(r.ids[r.next:len(r.ids):len(r.ids)], r.ids[:r.next]...)
	return all[len(all)-int(r.len):] // len is at most the pushes and the ids kept
}

var (
	seedSyllables = []string{"ka", "lo", "mi", "ra", "ne", "to", "vi", "su", "da", "fe", "jo", "ba", "ri", "el", "an", "or"}
	seedWords     = strings.Fields(`the a my our this that new old good small big quick slow morning evening coffee tea
		train bike walk run garden city river sea book film song code bug fix release test redis go server
		cat dog bird rain sun snow wind cloud today tomorrow again finally really maybe never always
		love like want need made saw read wrote built found lost shipped tried learned`)
)

func seedName(r *rand.Rand, id int64) string {
	var b strings.Builder
	for range 2 + r.IntN(2) {
		b.WriteString(seedSyllables[r.IntN(len(seedSyllables))])
	}
	name := b.String()
	return strings.ToUpper(name[:1]) + name[1:] + "_" + strconv.FormatInt(id, 10)
}

func seedBody(r *rand.Rand) string {
	n := 3 + r.IntN(25)
	words := make([]string, n)
	for i := range words {
		words[i] = seedWords[r.IntN(len(seedWords))]
	}
	s := strings.Join(words, " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
