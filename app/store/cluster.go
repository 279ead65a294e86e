package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A Redis Cluster spreads keys over slots by their names, and pytwis's names
// carry no hash tags: one operation's keys (users, user:<id>, auths, each
// follower's timeline) live on different nodes, and a Cluster refuses a
// script or a transaction over keys of several slots. On a Cluster
// (Store.sharded) each operation is therefore a sequence of single-key
// commands and single-key scripts, written in an order in which every
// prefix of the writes is harmless to a reader, pytwis included: the keys
// a reader starts from (users, auths, the lists of tweet ids) are written
// last, so a failure between two writes leaves at most a key that nothing
// points to yet, or a follow recorded on one side only. Each step is safe
// to run again. On one server the scripts in scripts.go do the same in one
// atomic step each.

// recentEntries is how many of a list's newest entries a push looks among
// for the tweet it pushes, so that a step run again pushes it once.
const recentEntries = 200

// pushOnceScript: KEYS a list of tweet ids; ARGV tweet id, cap (0: none),
// trim point, how many of the newest entries to look among (0: all).
// LPUSHes the id unless it is among them already (a step run again after
// a failure), then trims the list back to the cap once past its trim
// point. Returns the list's length after the push (1: the push made it),
// or 0 when it did not push.
var pushOnceScript = script(`
if redis.call('LPOS', KEYS[1], ARGV[1], 'MAXLEN', ARGV[4]) then return 0 end
local len = redis.call('LPUSH', KEYS[1], ARGV[1])
local cap = tonumber(ARGV[2])
if cap > 0 and len > tonumber(ARGV[3]) then redis.call('LTRIM', KEYS[1], 0, cap - 1) end
return len
`)

// userRotateScript: KEYS user:<id>; ARGV old secret, new secret, new hash
// (” keeps it), expected current hash. rotateScript's check and write on
// the user's own hash. Returns 1, 0 when the old secret is no longer
// current, -1 when the hash changed since it was verified.
var userRotateScript = script(`
if redis.call('HGET', KEYS[1], '{auth}') ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[1], '{password_hash}') ~= ARGV[4] then return -1 end
  redis.call('HSET', KEYS[1], '{password_hash}', ARGV[3])
end
redis.call('HSET', KEYS[1], '{auth}', ARGV[2])
return 1
`)

// registerSharded is registerScript's work in single-key steps, with its
// replies. The name is claimed last (HSETNX users), and a claim lost to a
// simultaneous sign-up takes back what was written before it.
func (s *Store) registerSharded(ctx context.Context, username, hash, secret, folded string) (int64, error) {
	counted, err := s.rdb.Get(ctx, keyFoldedCount).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	users, err := s.rdb.HLen(ctx, keyUsers).Result()
	if err != nil {
		return 0, err
	}
	// Fewer names folded than users: pytwis registered some since. (More is
	// a sign-up elsewhere between its claim and its count: harmless.)
	if counted < users {
		return -1, nil
	}
	if other, err := s.rdb.HGet(ctx, keyFoldedNames, folded).Result(); err == nil {
		if live, err := s.liveUser(ctx, other); err != nil || live {
			return -2, err
		}
	} else if !errors.Is(err, redis.Nil) {
		return 0, err
	}
	id, err := s.newHash(ctx, keyNextUserID, userKey, fieldUsername, username, fieldPasswordHash, hash, fieldAuth, secret)
	if err != nil {
		return 0, err
	}
	uid := strconv.FormatInt(id, 10)
	undo := func() {
		// Best effort: what is left is pointed to by nothing that a
		// reader starts from.
		s.rdb.HDel(ctx, keyAuths, secret)
		s.rdb.Del(ctx, userKey(uid))
	}
	if err := s.rdb.HSet(ctx, keyAuths, secret, uid).Err(); err != nil {
		return 0, err
	}
	claimed, err := s.rdb.HSetNX(ctx, keyFoldedNames, folded, uid).Result()
	if err != nil {
		return 0, err
	}
	if !claimed {
		other, err := s.rdb.HGet(ctx, keyFoldedNames, folded).Result()
		if err != nil {
			return 0, err
		}
		live, err := s.liveUser(ctx, other)
		if err != nil {
			return 0, err
		}
		if live {
			undo()
			return -2, nil
		}
		// A sign-up that failed part-way left the name: take it over.
		if err := s.rdb.HSet(ctx, keyFoldedNames, folded, uid).Err(); err != nil {
			return 0, err
		}
	}
	won, err := s.rdb.HSetNX(ctx, keyUsers, username, uid).Result()
	if err != nil {
		return 0, err
	}
	if !won {
		undo()
		return 0, nil
	}
	if err := s.rdb.Incr(ctx, keyFoldedCount).Err(); err != nil {
		return 0, err
	}
	return id, nil
}

// createScript: KEYS a hash; ARGV its fields and values. Writes them
// unless the hash exists. Returns 1, or 0 when it exists.
var createScript = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// maxTakenIDs bounds the ids newHash passes over in one call: far more
// than the writes a failover loses.
const maxTakenIDs = 10_000

// newHash takes an id from counter (next_user_id, next_tweet_id) and
// creates the hash key(id) with fields, and returns the id. On a Cluster
// the counter and the hashes it numbers live on different shards: a
// failover of the counter's can lose its last increments while the users
// and tweets they numbered stand, and the counter then gives their ids
// again. A new user or tweet written over one of them would take over its
// name, password and tweets, or its text: an id whose hash exists is
// passed over, and the next one taken.
func (s *Store) newHash(ctx context.Context, counter string, key func(string) string, fields ...any) (int64, error) {
	for taken := 0; taken < maxTakenIDs; taken++ {
		n, err := s.rdb.Incr(ctx, counter).Result()
		if err != nil {
			return 0, err
		}
		created, err := createScript.Run(ctx, s.rdb, []string{key(strconv.FormatInt(n, 10))}, fields...).Int()
		if err != nil {
			return 0, err
		}
		if created == 1 {
			if taken > 0 {
				s.log.Warn("the id counter was behind what it numbered (a failover lost its last writes): passed over ids already taken",
					"counter", counter, "taken", taken, "id", n)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: %d ids in a row are taken", counter, maxTakenIDs)
}

// liveUser reports whether the user with this id is a registered one (its
// name in users maps back to it), not the remains of a failed sign-up.
func (s *Store) liveUser(ctx context.Context, id string) (bool, error) {
	name, err := s.rdb.HGet(ctx, userKey(id), fieldUsername).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	back, err := s.rdb.HGet(ctx, keyUsers, name).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return back == id, err
}

// credentialsSharded is credentialsScript's reply: {id, hash}, or redis.Nil.
func (s *Store) credentialsSharded(ctx context.Context, username string) ([]string, error) {
	id, err := s.rdb.HGet(ctx, keyUsers, username).Result()
	if err != nil {
		return nil, err
	}
	hash, err := s.rdb.HGet(ctx, userKey(id), fieldPasswordHash).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return []string{id, hash}, nil
}

// viewerSharded is the user whose current secret this is, or nil: pytwis's
// _is_loggedin, in two round trips.
func (s *Store) viewerSharded(ctx context.Context, secret string) (*Viewer, error) {
	id, err := s.rdb.HGet(ctx, keyAuths, secret).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var u *redis.SliceCmd
	var followers, following *redis.IntCmd
	var unread *redis.StringCmd
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		u = p.HMGet(ctx, userKey(id), fieldAuth, fieldUsername)
		followers = p.ZCard(ctx, followerKey(id))
		following = p.ZCard(ctx, followingKey(id))
		unread = p.Get(ctx, unreadKey(id))
	})
	if err != nil {
		return nil, err
	}
	if str(u.Val()[0]) != secret {
		return nil, nil
	}
	n, _ := unread.Int64()
	return &Viewer{ID: id, Username: str(u.Val()[1]), Followers: followers.Val(), Following: following.Val(), Unread: n}, nil
}

// rotateSharded is rotateScript's work: the new secret is added to auths
// first (nothing uses it yet: the user's own hash does not name it), then
// the user's hash takes it, checked and written in one single-key step,
// and then the old secret leaves auths. Its replies are rotateScript's.
func (s *Store) rotateSharded(ctx context.Context, old, renewed, hash, expected string) (int, error) {
	id, err := s.rdb.HGet(ctx, keyAuths, old).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := s.rdb.HSet(ctx, keyAuths, renewed, id).Err(); err != nil {
		return 0, err
	}
	n, err := userRotateScript.Run(ctx, s.rdb, []string{userKey(id)}, old, renewed, hash, expected).Int()
	if err != nil {
		return 0, err
	}
	if n != 1 {
		s.rdb.HDel(ctx, keyAuths, renewed)
		return n, nil
	}
	// A failure here leaves the old secret in auths, naming a user whose
	// secret it no longer is: no reader takes it for a sign-in.
	if err := s.rdb.HDel(ctx, keyAuths, old).Err(); err != nil {
		return 0, err
	}
	return 1, nil
}

// postSharded writes the tweet, then a fan-out job, then pushes it onto the
// author's own lists, then checks that the author's account is not being
// deleted. The job's first phase pushes onto those lists too (each
// push skips a tweet already there), so a post cut off after the job was
// written still reaches every list; one cut off before it is a tweet hash
// that no list names, invisible to every reader. Every follower is served by
// the fan-out workers, a few milliseconds later.
func (s *Store) postSharded(ctx context.Context, userID, secret, body, parent string, mentions, tags []string) (id, author string, err error) {
	if secret != "" {
		v, err := s.viewerSharded(ctx, secret)
		if err != nil {
			return "", "", err
		}
		if v == nil {
			return "", "", ErrNotLoggedIn
		}
		userID = v.ID
	}
	if parent != "" {
		// Deleted, or a post not listed yet (fieldPosting): none to answer.
		p, err := s.rdb.HMGet(ctx, tweetKey(parent), fieldTweetUserID, fieldDeleted, fieldPosting).Result()
		if err != nil {
			return "", "", err
		}
		if p[0] == nil || p[1] != nil || p[2] != nil {
			return "", "", ErrNoSuchTweet
		}
	}
	posted := strconv.FormatInt(s.now().Unix(), 10)
	fields := []any{fieldTweetUserID, userID, fieldTweetTime, posted, fieldTweetBody, body, fieldPosting, "1"}
	if parent != "" {
		fields = append(fields, fieldReplyTo, parent)
	}
	if len(mentions) > 0 {
		fields = append(fields, fieldMentions, strings.Join(mentions, " "))
	}
	n, err := s.newHash(ctx, keyNextTweetID, tweetKey, fields...)
	if err != nil {
		return "", "", err
	}
	id = strconv.FormatInt(n, 10)
	if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: keyFanOut, Values: []any{"tweet", id, "author", userID, "time", posted, "reply_to", parent, "tags", strings.Join(tags, " ")}}).Err(); err != nil {
		return "", "", err
	}
	if err := s.pushOwn(ctx, id, userID, parent, tags, false); err != nil {
		return "", "", err
	}
	if err := s.unlessDeleted(ctx, userID, func() error { return s.deleteTweets(ctx, userID, true, id) }); err != nil {
		return "", "", err
	}
	// Listed: the mark goes. Should this fail, the post stands, and its
	// fan-out job takes the mark off (posted).
	_ = s.rdb.HDel(ctx, tweetKey(id), fieldPosting).Err()
	return id, userID, nil
}

// posted takes the posting mark off a tweet its fan-out job has put on
// its lists. If the mark was still there, the post was cut off after its
// job began, and the search indexer may have passed the tweet by: its
// words are indexed here, each list taking it at its place by id, once
// (reindexWords, as an edit's new words).
func (s *Store) posted(ctx context.Context, tweet string) error {
	marked, err := s.rdb.HDel(ctx, tweetKey(tweet), fieldPosting).Result()
	if err != nil || marked == 0 {
		return err
	}
	t, err := s.rdb.HMGet(ctx, tweetKey(tweet), fieldTweetBody, fieldDeleted).Result()
	if err != nil || t[0] == nil || t[1] != nil {
		return err
	}
	return s.reindexWords(ctx, tweet, nil, wordsOf(str(t[0])))
}

// pushOwn pushes the tweet onto its author's tweets_by and timeline, the
// general timeline, for a reply the replies to its parent, and its tags'
// lists, each at most once. The post pushes first (again false), looking
// for the tweet among the newest entries (a step run again); its fan-out
// job again (again true), which finishes a post cut short, and looks in
// the whole of each list: any number of tweets may have come since.
func (s *Store) pushOwn(ctx context.Context, tweet, author, parent string, tags []string, again bool) error {
	look := recentEntries
	if again {
		look = 0
	}
	authorID, _ := strconv.ParseUint(author, 10, 64)
	type push struct {
		key       string
		cap, trim int64
	}
	pushes := []push{
		{tweetsByKey(author), 0, 0},
		{timelineKey(author), UserTimelineCap, trimPoint(authorID)},
		{keyGeneralTimeline, GeneralTimelineCap, GeneralTimelineCap},
	}
	for _, t := range tags {
		pushes = append(pushes, push{tagKey(t), 0, 0})
	}
	for _, push := range pushes {
		if err := pushOnceScript.Run(ctx, s.rdb, []string{push.key}, tweet, push.cap, push.trim, look).Err(); err != nil {
			return fmt.Errorf("push onto %s: %w", push.key, err)
		}
	}
	if len(tags) > 0 {
		// tags are the post's: an edit since (its text written before it
		// retags) may have taken some out, and is then read here.
		body, err := s.rdb.HGet(ctx, tweetKey(tweet), fieldTweetBody).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("read tweet %s: %w", tweet, err)
		}
		if err := s.retag(ctx, tweet, without(tags, tagsOf(body)), nil); err != nil {
			return fmt.Errorf("untag tweet %s: %w", tweet, err)
		}
	}
	if parent != "" {
		if err := listReplyScript.Run(ctx, s.rdb, []string{repliesKey(parent), tweetKey(parent)}, tweet, look).Err(); err != nil {
			return fmt.Errorf("list the reply under tweet %s: %w", parent, err)
		}
	}
	return nil
}

// listReplyScript: KEYS the replies list of a tweet, its hash (one slot);
// ARGV the reply's id, how many of the newest replies to look among (0:
// all). Lists the reply under the tweet and counts it, once however often
// run, and not at all if the tweet is gone (a count alone would make a
// tweet hash without a tweet).
var listReplyScript = script(`
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1], 'MAXLEN', ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], '{replies}', 1)
return 1
`)

// followSharded is followScript's work: the follower set first (from then
// on the fan-out serves the follower), then the following set is made to
// agree with it; an unfollow undoes them in the same order. Its replies are
// followScript's; the check of the two accounts comes last here, after the
// writes it guards.
func (s *Store) followSharded(ctx context.Context, userID, followee, op string) (int64, error) {
	fid, err := s.rdb.HGet(ctx, keyUsers, followee).Result()
	if errors.Is(err, redis.Nil) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if fid == userID {
		return -2, nil
	}
	now := float64(s.now().Unix())
	var changed int64
	if op == "follow" {
		changed, err = s.rdb.ZAdd(ctx, followerKey(fid), redis.Z{Score: now, Member: userID}).Result()
	} else {
		changed, err = s.rdb.ZRem(ctx, followerKey(fid), userID).Result()
	}
	if err != nil {
		return 0, err
	}
	if err := s.matchFollowing(ctx, userID, fid); err != nil {
		return 0, err
	}
	if op == "follow" {
		// Either account's deletion, begun by now, could have missed
		// the follow: it is undone (unless it was there before, when the
		// deletion finds it).
		var meGone, themGone *redis.BoolCmd
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			meGone, themGone = p.HExists(ctx, userKey(userID), fieldDeleted), p.HExists(ctx, userKey(fid), fieldDeleted)
		}); err != nil {
			return 0, err
		}
		if meGone.Val() || themGone.Val() {
			// Undone by ids: a deletion that ended takes the name away.
			if changed > 0 {
				if err := s.rdb.ZRem(ctx, followerKey(fid), userID).Err(); err != nil {
					return 0, err
				}
				if err := s.matchFollowing(ctx, userID, fid); err != nil {
					return 0, err
				}
			}
			if meGone.Val() {
				return -3, nil
			}
			return -1, nil
		}
	}
	if changed == 0 {
		return 0, nil
	}
	n, _ := strconv.ParseInt(fid, 10, 64)
	return n, nil
}

// matchFollowing makes the following set of the user agree with the
// follower set of fid, which decides (agree): the two are on different
// slots.
func (s *Store) matchFollowing(ctx context.Context, userID, fid string) error {
	return agree(
		func() (float64, error) { // when the user began to follow fid; 0: they do not
			at, err := s.rdb.ZScore(ctx, followerKey(fid), userID).Result()
			if errors.Is(err, redis.Nil) {
				return 0, nil
			}
			return at, err
		},
		func(at float64) error {
			if at == 0 {
				return s.rdb.ZRem(ctx, followingKey(userID), fid).Err()
			}
			return s.rdb.ZAdd(ctx, followingKey(userID), redis.Z{Score: at, Member: fid}).Err()
		})
}

// readPageSharded is readPage's reads in two pipelined round trips: what
// the page's keys are named by, then the page.
func (s *Store) readPageSharded(ctx context.Context, secret string, q pageQuery, start, stop int) (pageReply, error) {
	feed := q.feed
	var gen *redis.StringCmd
	var auth, target *redis.StringCmd
	var general *redis.StringSliceCmd
	var focus *redis.SliceCmd
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		gen = p.Get(ctx, keyGeneration)
		if secret != "" {
			auth = p.HGet(ctx, keyAuths, secret)
		}
		switch feed {
		case string(General):
			general = p.LRange(ctx, keyGeneralTimeline, int64(start), int64(stop))
		case "list":
			general = p.LRange(ctx, q.key, int64(start), int64(stop))
		case "by":
			target = p.HGet(ctx, keyUsers, q.username)
		}
		if q.focus != "" {
			focus = p.HMGet(ctx, tweetKey(q.focus), fieldReplies, fieldReposts, fieldLikes)
		}
	})
	if err != nil {
		return pageReply{}, err
	}
	r := pageReply{gen: gen.Val()}
	if general != nil {
		r.ids = general.Val()
	}
	if focus != nil {
		r.focusCounts = focus.Val()
	}
	viewerID, targetID := "", ""
	if auth != nil {
		viewerID = auth.Val()
	}
	if target != nil {
		targetID = target.Val()
	}
	if viewerID == "" && targetID == "" {
		return r, nil
	}
	var u *redis.SliceCmd
	var vFollowers, vFollowing, tFollowers, tFollowing *redis.IntCmd
	var unread *redis.StringCmd
	var follows *redis.FloatCmd
	var list *redis.StringSliceCmd
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		if viewerID != "" {
			u = p.HMGet(ctx, userKey(viewerID), fieldAuth, fieldUsername)
			vFollowers, vFollowing = p.ZCard(ctx, followerKey(viewerID)), p.ZCard(ctx, followingKey(viewerID))
			unread = p.Get(ctx, unreadKey(viewerID))
			if feed == string(Own) {
				list = p.LRange(ctx, timelineKey(viewerID), int64(start), int64(stop))
			}
			if targetID != "" {
				follows = p.ZScore(ctx, followingKey(viewerID), targetID)
			}
		}
		if targetID != "" {
			tFollowers, tFollowing = p.ZCard(ctx, followerKey(targetID)), p.ZCard(ctx, followingKey(targetID))
			list = p.LRange(ctx, tweetsByKey(targetID), int64(start), int64(stop))
		}
	})
	if err != nil {
		return pageReply{}, err
	}
	if u != nil && str(u.Val()[0]) == secret {
		n, _ := unread.Int64()
		r.viewer = &Viewer{ID: viewerID, Username: str(u.Val()[1]), Followers: vFollowers.Val(), Following: vFollowing.Val(), Unread: n}
	}
	if feed == string(Own) && r.viewer == nil {
		return r, nil // not signed in: no list to read
	}
	if targetID != "" {
		r.target = &targetUser{ID: targetID, Followers: tFollowers.Val(), Following: tFollowing.Val()}
		r.target.ViewerFollows = r.viewer != nil && follows != nil && follows.Err() == nil
	}
	if list != nil {
		r.ids = list.Val()
	}
	return r, nil
}

// tweetsSharded is tweetsScript's reply, read in pipelined round trips: the
// generation (set if missing) and the tweets, then the authors of the
// tweets replied to, then the authors' names. A tweet still marked as
// posting has no user id in it, as a deleted one.
func (s *Store) tweetsSharded(ctx context.Context, newGen string, ids []string) ([]any, error) {
	var gen *redis.StringCmd
	hashes := make([]*redis.SliceCmd, len(ids))
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		gen = p.Get(ctx, keyGeneration)
		for i, id := range ids {
			hashes[i] = p.HMGet(ctx, tweetKey(id), fieldTweetUserID, fieldTweetTime, fieldTweetBody, fieldReplyTo, fieldMentions, fieldDeleted, fieldEdited, fieldPosting)
		}
	})
	if err == nil && errors.Is(gen.Err(), redis.Nil) {
		// A new database: its first read sets the generation, if Redis
		// takes the write. Reads go on while it refuses writes
		// (WritesRefused), each with a generation of its own.
		if set, err := s.rdb.SetNX(ctx, keyGeneration, newGen, 0).Result(); err == nil && !set {
			gen = s.rdb.Get(ctx, keyGeneration) // another read set it first
		} else {
			gen = redis.NewStringResult(newGen, nil)
		}
	}
	if err != nil {
		return nil, err
	}
	parents := map[string]*redis.SliceCmd{}
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, h := range hashes {
			if parent := str(h.Val()[3]); parent != "" && parents[parent] == nil {
				parents[parent] = p.HMGet(ctx, tweetKey(parent), fieldTweetUserID, fieldDeleted)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	names := map[string]*redis.StringCmd{}
	gone := map[string]*redis.BoolCmd{} // authors of deleted parents: account deleted?
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		want := func(uid string) {
			if uid != "" && names[uid] == nil {
				names[uid] = p.HGet(ctx, userKey(uid), fieldUsername)
			}
		}
		for _, h := range hashes {
			want(str(h.Val()[0]))
		}
		for _, c := range parents {
			want(parentAuthor(c))
			if uid := deletedAuthor(c); uid != "" && gone[uid] == nil {
				gone[uid] = p.HExists(ctx, userKey(uid), fieldDeleted)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	name := func(uid string) string {
		if uid == "" {
			return ""
		}
		return names[uid].Val()
	}
	out := []any{gen.Val()}
	for i, h := range hashes {
		t := h.Val()
		uid, posted, parent, parentName := str(t[0]), str(t[1]), str(t[3]), ""
		if posted == "" {
			posted = "0"
		}
		if t[5] != nil || t[7] != nil {
			// A deleted tweet's tombstone, or a post not listed yet
			// (postSharded's mark): none to show.
			uid = ""
		}
		if parent != "" {
			parentName = name(parentAuthor(parents[parent]))
			if g := gone[deletedAuthor(parents[parent])]; g != nil && g.Val() {
				parentName = "-"
			}
		}
		out = append(out, ids[i], uid, name(uid), posted, str(t[2]), parent, parentName, str(t[4]), str(t[6]))
	}
	return out, nil
}

// parentAuthor is the author's id from a parent tweet's userid and deleted
// fields: "" when it is gone or deleted.
func parentAuthor(c *redis.SliceCmd) string {
	v := c.Val()
	if len(v) != 2 || v[1] != nil {
		return ""
	}
	return str(v[0])
}

// deletedAuthor is the author's id from a deleted parent tweet's fields
// ("" for one not deleted), whose account may be gone too.
func deletedAuthor(c *redis.SliceCmd) string {
	v := c.Val()
	if len(v) != 2 || v[1] == nil {
		return ""
	}
	return str(v[0])
}

// namesSharded is the usernames of ids, in order, skipping users that are
// gone.
func (s *Store) namesSharded(ctx context.Context, ids []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, userKey(id), fieldUsername)
		}
	})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range cmds {
		if c.Err() == nil {
			names = append(names, c.Val())
		}
	}
	return names, nil
}

// pipelined runs fn's commands in one pipeline (on a Cluster, one per node,
// sent at once) and returns the first error other than a missing key's.
func (s *Store) pipelined(ctx context.Context, fn func(p redis.Pipeliner)) error {
	return failed(s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { fn(p); return nil }))
}

// failed returns the first error of cmds, a pipeline's commands, but
// redis.Nil. A pipeline that failed before any of them ran (its connection
// refused by Redis as it was made: a wrong password) fails without failing
// them, and they read as empty replies: failed then gives each of them
// err, the pipeline's own error, and returns it.
func failed(cmds []redis.Cmder, err error) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	for _, c := range cmds {
		if c.Err() == nil {
			c.SetErr(err)
		}
	}
	return err
}

// forEachPrimary runs fn on every primary of a Cluster, or on the one
// server: for what a Cluster answers per node (SCAN, FLUSHDB).
func (s *Store) forEachPrimary(ctx context.Context, fn func(ctx context.Context, c redis.Cmdable) error) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return fn(ctx, s.rdb)
	}
	var mu sync.Mutex
	return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(ctx, c)
	})
}
