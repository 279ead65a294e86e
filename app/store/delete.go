package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// Deleting a tweet. pytwis fails on an id in its lists whose hash is gone,
// and the timelines of former followers that hold the id cannot be found,
// so a deleted tweet's hash stays as a tombstone: pytwis's three fields,
// the body emptied, and pytwask_deleted, which pytwask's readers take for
// "no such tweet" (tweetsScript). The steps, each single-slot and safe to
// run again, so that asking again finishes a deletion a failure cut short:
//
//  1. mark: pytwask_deleted on the hash, in a script that checks the author;
//  2. a new generation: every instance drops the tweets it cached at its
//     next read, so from here the tweet is gone from every page;
//  3. off the author's lists: tweets_by, timeline, the general timeline,
//     its tags' lists, its parent's replies (with the count), and its
//     words' lists (search.go);
//  4. purge jobs on the fan-out stream: for the author's followers (but
//     in an account's deletion, which takes all its tweets off them in
//     one pass), and for each reposter and theirs, the id and its repost
//     mark off those timelines, by the fan-out workers (a post's or a
//     repost's job still running pushes no more, and takes back what it
//     pushed meanwhile);
//  5. the likers' and reposters' own sets, then the tweet's sets (and an
//     edited tweet's versions);
//  6. the body emptied.
//
// Then the notifications it gave rise to are taken back (noticesOf, read
// after step 1, when no edit can add any, and before the rest): by
// DeleteTweet for one tweet, by deleteAccount (before step 1, for all of
// an account's at once, once its sessions are gone).

// deleteMarkScript: KEYS a tweet's hash; ARGV the user's id, unix time.
// Marks the tweet deleted (once) if the user wrote it. Returns {1, body,
// the id of the tweet it replies to}, {-1} when there is no such tweet, or
// {-2} when someone else wrote it.
var deleteMarkScript = script(`
local t = redis.call('HMGET', KEYS[1], '{userid}', '{body}', '{reply_to}', '{deleted}')
if not t[1] then return {-1} end
if t[1] ~= ARGV[1] then return {-2} end
if not t[4] then redis.call('HSET', KEYS[1], '{deleted}', ARGV[2]) end
return {1, t[2] or '', t[3] or ''}
`)

// unlistReplyScript: KEYS the replies list of a tweet, its hash (one slot);
// ARGV a reply's id. Takes the reply off the list, and off the count if it
// was there.
var unlistReplyScript = script(`
if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], '{replies}', -1)
end
return 1
`)

// ErrNotYourTweet refuses to delete or edit someone else's tweet.
var ErrNotYourTweet = &Error{Forbidden, "You can only change your own tweets."}

// DeleteTweet deletes the tweet with this id, written by the user whose
// secret it is. Deleting a tweet already deleted finishes what is left of
// it. ErrNoSuchTweet if there is none, ErrNotYourTweet if someone else
// wrote it.
func (s *Store) DeleteTweet(ctx context.Context, secret, id string) error {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return err
	}
	if !ValidTweetID(id) {
		return ErrNoSuchTweet
	}
	// Once marked, the tweet's page is a 404, where its author can no
	// longer ask again: the steps go on to the end whatever the caller
	// does. The notifications the tweet gave are found by what the
	// deletion removes, so they are read after the mark (an edit then
	// can no longer add any: EditTweet) and before the rest, and taken
	// back after it.
	ctx, err = begin(ctx)
	if err != nil {
		return err
	}
	ds, err := s.markDeleted(ctx, v.ID, id)
	switch {
	case err != nil:
		return err
	case len(ds) == 0:
		return ErrNoSuchTweet
	}
	notices, err := s.noticesOf(ctx, id)
	if err != nil {
		return fmt.Errorf("delete tweet %s: %w", id, err)
	}
	if err := s.unlistDeleted(ctx, v.ID, ds, true); err != nil {
		return err
	}
	s.unnotify(ctx, notices...)
	return nil
}

// deleteTweets is DeleteTweet of these tweets by the user with this id,
// for callers that have checked the id, begun (begin) and read their
// notices: their steps go on to the end, each step for all of them in one
// round trip. Ids with no tweet are left out. followers says whether purge
// jobs take them off the author's followers' timelines (unlistDeleted).
func (s *Store) deleteTweets(ctx context.Context, userID string, followers bool, ids ...string) error {
	ds, err := s.markDeleted(ctx, userID, ids...)
	if err != nil {
		return err
	}
	return s.unlistDeleted(ctx, userID, ds, followers)
}

// deletion is a tweet marked deleted, with what the rest of its deletion
// needs: its text, and the id of the tweet it answers ("" for none).
type deletion struct{ id, body, parent string }

// markDeleted is a deletion's first step (deleteMarkScript) for tweets of
// the user with this id: the tweets marked, in order, leaving out ids with
// no tweet. ErrNotYourTweet if one of them is someone else's.
func (s *Store) markDeleted(ctx context.Context, userID string, ids ...string) ([]deletion, error) {
	now := s.now().Unix()
	replies := make([]*redis.Cmd, len(ids))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			replies[i] = deleteMarkScript.Eval(ctx, p, []string{tweetKey(id)}, userID, now)
		}
	}); err != nil {
		return nil, fmt.Errorf("delete %s: %w", tweetsNamed(ids), err)
	}
	ds := make([]deletion, 0, len(ids))
	for i, id := range ids {
		res, _ := replies[i].Slice()
		var n int64
		if len(res) > 0 {
			n, _ = res[0].(int64)
		}
		switch {
		case n == -1:
			continue
		case n == -2:
			return nil, ErrNotYourTweet
		case len(res) != 3:
			return nil, fmt.Errorf("delete tweet %s: unexpected reply of %d values", id, len(res))
		}
		ds = append(ds, deletion{id: id, body: str(res[1]), parent: str(res[2])})
	}
	return ds, nil
}

// tweetsNamed names ids in an error: "tweet 5", or "3 tweets".
func tweetsNamed(ids []string) string {
	if len(ids) == 1 {
		return "tweet " + ids[0]
	}
	return fmt.Sprintf("%d tweets", len(ids))
}

// unlistDeleted is the rest of the deletions of tweets the user with this
// id marked (steps 2 to 6), each step for all of them at once. Without
// followers, no purge jobs are started for the author's followers: an
// account's deletion takes all its tweets off their timelines itself, in
// one pass, where a job for each tweet would scan each follower's timeline
// once a tweet.
func (s *Store) unlistDeleted(ctx context.Context, userID string, ds []deletion, followers bool) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, len(ds))
	listed := make([]listing, len(ds))
	var parents []string
	for i, d := range ds {
		ids[i] = d.id
		listed[i] = listing{tweet: d.id, parent: d.parent, tags: tagsOf(d.body)}
		if d.parent != "" && !slices.Contains(parents, d.parent) {
			parents = append(parents, d.parent)
		}
	}
	fail := func(err error) error { return fmt.Errorf("delete %s: %w", tweetsNamed(ids), err) }
	now := s.now().Unix()
	if err := s.newGeneration(ctx); err != nil {
		return fail(err)
	}
	if err := s.unlistOwn(ctx, userID, listed...); err != nil {
		return fail(err)
	}
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, d := range ds {
			reindexWordsIn(ctx, p, d.id, wordsOf(d.body), nil)
		}
	}); err != nil {
		return fail(fmt.Errorf("take it out of the search index: %w", err))
	}
	if err := s.purgeMarks(ctx, userID, followers, now, ids...); err != nil {
		return fail(err)
	}
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, id := range ids {
			p.HSet(ctx, tweetKey(id), fieldTweetBody, "")
		}
	}); err != nil {
		return fail(err)
	}
	gone := make([]*live.Event, len(ids))
	for i, id := range ids {
		gone[i] = &live.Event{Kind: live.KindGone, Tweet: id}
	}
	s.events.Publish(ctx, gone...)
	s.publishCounts(ctx, parents...)
	return nil
}

// noticesOf returns what the tweets told others of (notify), to take back
// when they are deleted, which their readers' pages no longer show: their
// authors' notifications of their likes and reposts, the replies' to the
// authors they answer, and those of the users they mention or mentioned
// before an edit. It reads them in two round trips however many tweets.
func (s *Store) noticesOf(ctx context.Context, tweets ...string) ([]notice, error) {
	fields := make([]*redis.SliceCmd, len(tweets))
	earlier := make([]*redis.StringSliceCmd, len(tweets))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range tweets {
			fields[i] = p.HMGet(ctx, tweetKey(t), fieldTweetUserID, fieldReplyTo, fieldMentions)
			earlier[i] = p.SMembers(ctx, mentionedKey(t))
		}
	}); err != nil {
		return nil, err
	}
	// Then the authors of the tweets answered, and the mentioned users' ids
	// by their names, as the users hash has them.
	parents := make([]*redis.StringCmd, len(tweets))
	names := make([][]*redis.StringCmd, len(tweets))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, f := range fields {
			v := f.Val()
			if len(v) != 3 {
				continue
			}
			if parent := str(v[1]); parent != "" {
				parents[i] = p.HGet(ctx, tweetKey(parent), fieldTweetUserID)
			}
			mentioned := append(strings.Fields(str(v[2])), earlier[i].Val()...)
			slices.Sort(mentioned)
			for _, name := range slices.Compact(mentioned) {
				names[i] = append(names[i], p.HGet(ctx, keyUsers, name))
			}
		}
	}); err != nil {
		return nil, err
	}
	var notices []notice
	for i, t := range tweets {
		v := fields[i].Val()
		if len(v) != 3 || v[0] == nil {
			continue // no such tweet
		}
		author := str(v[0])
		notices = append(notices, notice{author, "", "", t})
		if parents[i] != nil {
			notices = append(notices, notice{parents[i].Val(), NotifyReply, author, t})
		}
		for _, id := range names[i] {
			notices = append(notices, notice{id.Val(), NotifyMention, author, t})
		}
	}
	return notices, nil
}

// newGeneration gives the database a new generation: every instance drops
// the tweets it keeps in process at its next read (tweetCache), as it does
// for a database wiped.
func (s *Store) newGeneration(ctx context.Context) error {
	return s.rdb.Set(ctx, keyGeneration, newSecret()[:16], 0).Err()
}

// listing is a tweet as its author's lists hold it (pushOwn's): its id,
// the tweet it answers ("" for none) and its tags.
type listing struct {
	tweet, parent string
	tags          []string
}

// unlistOwn takes tweets of author off the author's lists, the general
// timeline, their tags' lists and their parents' replies (pushOwn's
// lists). Each id is there once: LREM stops at the first, near the head
// for a recent tweet.
func (s *Store) unlistOwn(ctx context.Context, author string, tweets ...listing) error {
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, t := range tweets {
			for _, k := range []string{tweetsByKey(author), timelineKey(author), keyGeneralTimeline} {
				p.LRem(ctx, k, 1, t.tweet)
			}
			for _, tag := range t.tags {
				p.LRem(ctx, tagKey(tag), 1, t.tweet)
			}
			p.HDel(ctx, viaKey(author), t.tweet)
			if t.parent != "" {
				// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
				unlistReplyScript.Eval(ctx, p, []string{repliesKey(t.parent), tweetKey(t.parent)}, t.tweet)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("take it off its lists: %w", err)
	}
	for _, t := range tweets {
		if t.parent != "" {
			s.counts.forget(t.parent)
		}
	}
	return nil
}

// purgeMarks starts the jobs that take the tweets of author off the
// author's followers' timelines (if followers) and each reposter's and
// theirs, then takes them out of their likers' and reposters' own sets,
// and deletes their sets.
func (s *Store) purgeMarks(ctx context.Context, author string, followers bool, now int64, tweets ...string) error {
	likers := make([]*redis.StringSliceCmd, len(tweets))
	reposters := make([]*redis.StringSliceCmd, len(tweets))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range tweets {
			likers[i], reposters[i] = p.SMembers(ctx, likesKey(t)), p.SMembers(ctx, repostsKey(t))
		}
	}); err != nil {
		return fmt.Errorf("read its likes and reposts: %w", err)
	}
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range tweets {
			purged := reposters[i].Val()
			if followers {
				purged = append([]string{author}, purged...)
			}
			for _, u := range purged {
				p.XAdd(ctx, &redis.XAddArgs{Stream: keyFanOut, Values: []any{
					"tweet", t, "author", u, "time", now, "purge", "1"}})
			}
		}
	})
	if err != nil {
		return fmt.Errorf("start taking it off timelines: %w", err)
	}
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range tweets {
			for _, u := range likers[i].Val() {
				p.SRem(ctx, likedKey(u), t)
			}
			for _, u := range reposters[i].Val() {
				p.SRem(ctx, repostedKey(u), t)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("take it off its likers' and reposters' sets: %w", err)
	}
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, t := range tweets {
			p.Del(ctx, likesKey(t), repostsKey(t), versionsKey(t), mentionedKey(t))
		}
	})
	if err != nil {
		return fmt.Errorf("delete its likes and reposts: %w", err)
	}
	return nil
}

// purgeFrom takes the tweet off the timelines of users, and its repost
// marks, in one pipeline. A timeline holds a tweet once (pushes skip one
// that has it), and a deleted one is recent, so LREM stops near the head.
func (s *Store) purgeFrom(ctx context.Context, tweet string, users []string) error {
	return s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, u := range users {
			p.HDel(ctx, viaKey(u), tweet)
			p.LRem(ctx, timelineKey(u), 1, tweet)
		}
	})
}

// isDeleted reports whether the tweet was deleted.
func (s *Store) isDeleted(ctx context.Context, tweet string) (bool, error) {
	return s.rdb.HExists(ctx, tweetKey(tweet), fieldDeleted).Result()
}

// deletedMeanwhile is for a job that just pushed the tweet onto users'
// timelines: if the tweet was deleted meanwhile, it takes it off them
// again, as the deletion's own job may have served them before.
func (s *Store) deletedMeanwhile(ctx context.Context, tweet string, users []string) error {
	deleted, err := s.isDeleted(ctx, tweet)
	if err != nil || !deleted {
		return err
	}
	return s.purgeFrom(ctx, tweet, users)
}

// unmadeIfLeaving is for a push that just made the timelines of users (a
// list of one entry): the deletion of such a user's account, begun by now,
// may have removed the timeline before the push made it again, and then
// it goes (with its repost marks) for good. One that begins later finds it.
func (s *Store) unmadeIfLeaving(ctx context.Context, users []string) error {
	gone := make([]*redis.BoolCmd, len(users))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, u := range users {
			gone[i] = p.HExists(ctx, userKey(u), fieldDeleted)
		}
	}); err != nil {
		return err
	}
	return s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, u := range users {
			if gone[i].Val() {
				p.Del(ctx, timelineKey(u))
				p.Del(ctx, viaKey(u))
			}
		}
	})
}
