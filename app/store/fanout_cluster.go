package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// On a Cluster a fan-out job runs as on one server (fanout.go), with what a
// Cluster needs: the job's own keys share a slot (the hash tag of its
// stream id), and what must touch other slots (the follower set, each
// follower's timeline, the stream) is a separate command that is safe to
// run twice:
//
//  0. own: the tweet onto its author's tweets_by and timeline, the general
//     timeline, for a reply its parent's replies, and its tags' lists
//     (postSharded did it too, unless it was cut off).
//  1. copy: a page of the follower set is read, then added to the to-do set
//     by a script that checks the job is still where the page was read from.
//  2. push: a script moves a chunk of the to-do set into the in-flight hash
//     (follower -> worker), the tweet is pushed onto those timelines, each
//     push skipping a timeline that has it already, and the chunk leaves
//     the in-flight hash. A worker that restarts, or takes the job over,
//     pushes what was left in flight first.
//  3. done: the state is marked done (and kept a day, so that a late worker
//     sees it), then the job leaves the stream.

// fanOutSlotKeys are a job's state, to-do set and in-flight hash on a
// Cluster, in one slot.
func fanOutSlotKeys(id string) (state, todo, inflight string) {
	tag := keyFanOut + ":{" + id + "}"
	return tag + ":job", tag + ":todo", tag + ":inflight"
}

// jobCreateScript: KEYS state; ARGV tweet, author, time. Creates the state
// of a job seen for the first time; returns its phase.
var jobCreateScript = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'phase', 'own', 'last', '', 'tweet', ARGV[1], 'author', ARGV[2], 'time', ARGV[3])
end
return redis.call('HGET', KEYS[1], 'phase')
`)

// jobPhaseScript: KEYS state; ARGV from, to. Moves the job on if it is
// still at from; returns the phase after.
var jobPhaseScript = script(`
local phase = redis.call('HGET', KEYS[1], 'phase')
if phase == ARGV[1] then redis.call('HSET', KEYS[1], 'phase', ARGV[2]); return ARGV[2] end
return phase or 'gone'
`)

// copyPageScript: KEYS state, to-do set; ARGV the last follower copied when
// the page was read, whether the page is the set's last, then follower and
// score pairs. Adds those who followed by the post's time, and records the
// page's last follower; does nothing if another worker moved the job on
// meanwhile. Returns the phase after.
var copyPageScript = script(`
local job = redis.call('HMGET', KEYS[1], 'phase', 'last', 'time')
if job[1] ~= 'copy' or job[2] ~= ARGV[1] then return job[1] or 'gone' end
local posted, later = tonumber(job[3]), ARGV[2] == '1'
for i = 3, #ARGV, 2 do
  if tonumber(ARGV[i + 1]) <= posted then redis.call('SADD', KEYS[2], ARGV[i]) else later = true end
end
if later then
  redis.call('HSET', KEYS[1], 'phase', 'push')
  return 'push'
end
redis.call('HSET', KEYS[1], 'last', ARGV[#ARGV - 1], 'last_score', ARGV[#ARGV])
return 'copy'
`)

// pushTakeScript: KEYS state, to-do set, in-flight hash; ARGV count,
// worker. Moves up to count followers from the to-do set into the in-flight
// hash under the worker's name; returns them, or false if the job is not
// in its push phase.
var pushTakeScript = script(`
if redis.call('HGET', KEYS[1], 'phase') ~= 'push' then return false end
local todo = redis.call('SPOP', KEYS[2], ARGV[1])
for _, f in ipairs(todo) do redis.call('HSET', KEYS[3], f, ARGV[2]) end
return todo
`)

// jobDoneShardedScript: KEYS state, to-do set, in-flight hash. Marks a job
// with nobody left to serve done, keeps its state a day and deletes the
// rest. Returns 1, or 0 if there is still work.
var jobDoneShardedScript = script(`
local phase = redis.call('HGET', KEYS[1], 'phase')
if phase == 'done' then return 1 end
if phase ~= 'push' or redis.call('SCARD', KEYS[2]) > 0 or redis.call('HLEN', KEYS[3]) > 0 then return 0 end
redis.call('HSET', KEYS[1], 'phase', 'done')
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`)

// runJobSharded runs a job from wherever its state says it is. takenOver
// says the job was claimed from a worker that went quiet, whose followers
// in flight are then this worker's to push.
//
// A repost's job (one whose entry has a via mark) runs the same way on one
// server too: its own phase puts the tweet on the reposter's timeline, and
// its pushes are repushScript's, each chunk as the repost stands when it
// runs (repostTo). So does a deletion's (purge):
// it takes the tweet off the timelines of a user and their followers
// (delete.go). A post's or a repost's chunk pushed while its tweet was
// being deleted is taken off again.
func (s *Store) runJobSharded(ctx context.Context, consumer string, msg redis.XMessage, takenOver bool, hooks fanOutHooks) error {
	j := jobOf(msg)
	tweet, author, posted := j.tweet, j.author, j.posted
	state, todo, inflight := fanOutSlotKeys(msg.ID)
	fail := func(what string, err error) error { return fmt.Errorf("fan-out of tweet %s: %s: %w", tweet, what, err) }
	step := func(phase string) error {
		if err := s.touchJob(ctx, consumer, msg.ID); err != nil {
			return err
		}
		if hooks.afterStep != nil {
			return hooks.afterStep(phase)
		}
		return nil
	}

	phase, err := s.rdb.HGet(ctx, state, "phase").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fail("start", err)
	}
	if phase == "" {
		// Not seen before, or finished and expired: only a job still in
		// the stream is started.
		msgs, err := s.rdb.XRange(ctx, keyFanOut, msg.ID, msg.ID).Result()
		if err != nil {
			return fail("start", err)
		}
		if len(msgs) == 0 { // finished long ago: only its delivery is left
			return s.rdb.XAck(ctx, keyFanOut, fanOutGroup, msg.ID).Err()
		}
		if phase, err = jobCreateScript.Run(ctx, s.rdb, []string{state}, tweet, author, posted).Text(); err != nil {
			return fail("start", err)
		}
	}
	if phase == "own" {
		switch {
		case j.purge:
			err = s.purgeFrom(ctx, tweet, []string{author})
		case j.via != "":
			_, err = s.repostTo(ctx, tweet, author, j.via, []string{author})
		default:
			err = s.pushOwn(ctx, tweet, author, j.parent, j.tags, true)
			if err == nil {
				err = s.unlistIfDeleted(ctx, j)
			}
			if err == nil {
				err = s.posted(ctx, tweet)
			}
		}
		if err != nil {
			return fail("push to the author's lists", err)
		}
		if phase, err = jobPhaseScript.Run(ctx, s.rdb, []string{state}, "own", "copy").Text(); err != nil {
			return fail("start copying", err)
		}
		if err := step("own"); err != nil {
			return err
		}
	}
	for phase == "copy" {
		if phase, err = s.copyPage(ctx, state, todo, author); err != nil {
			return fail("copy the followers", err)
		}
		if err := step("copy"); err != nil {
			return err
		}
	}
	if phase == "push" {
		if err := s.pushInFlight(ctx, inflight, j, consumer, takenOver); err != nil {
			return fail("push", err)
		}
		for {
			followers, err := pushTakeScript.Run(ctx, s.rdb, []string{state, todo, inflight}, fanOutChunk, consumer).StringSlice()
			if err != nil && !errors.Is(err, redis.Nil) {
				return fail("push", err)
			}
			if len(followers) == 0 {
				break
			}
			if err := s.pushTo(ctx, inflight, j, followers); err != nil {
				return fail("push", err)
			}
			s.fanOut.followers.Add(int64(len(followers)))
			if err := step("push"); err != nil {
				return err
			}
		}
	}
	done, err := jobDoneShardedScript.Run(ctx, s.rdb, []string{state, todo, inflight}).Int64()
	if err != nil {
		return fail("finish", err)
	}
	if done != 1 {
		return nil
	}
	// Acknowledged and deleted at once (one key, so one slot): a job
	// acknowledged but left in the stream is never read again.
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, keyFanOut, fanOutGroup, msg.ID)
		p.XDel(ctx, keyFanOut, msg.ID)
		return nil
	}); err != nil {
		return fail("finish", err)
	}
	s.fanOut.done.Add(1)
	if sec, err := strconv.ParseInt(posted, 10, 64); err == nil {
		s.fanOut.lastLag.Store(int64(s.now().Sub(time.Unix(sec, 0))))
	}
	return nil
}

// copyPage copies the next page of the author's followers into the to-do
// set, continuing from the last one copied (by rank, as copyStepScript).
func (s *Store) copyPage(ctx context.Context, state, todo, author string) (string, error) {
	job, err := s.rdb.HMGet(ctx, state, "phase", "last", "last_score").Result()
	if err != nil {
		return "", err
	}
	if str(job[0]) != "copy" {
		return str(job[0]), nil
	}
	last, start := str(job[1]), int64(0)
	if last != "" {
		r, err := s.rdb.ZRank(ctx, followerKey(author), last).Result()
		switch {
		case err == nil:
			start = r + 1
		case errors.Is(err, redis.Nil):
			if start, err = s.rdb.ZCount(ctx, followerKey(author), "-inf", "("+str(job[2])).Result(); err != nil {
				return "", err
			}
		default:
			return "", err
		}
	}
	page, err := s.rdb.ZRangeWithScores(ctx, followerKey(author), start, start+fanOutChunk-1).Result()
	if err != nil {
		return "", err
	}
	end := "0"
	if len(page) < fanOutChunk {
		end = "1"
	}
	args := []any{last, end}
	for _, z := range page {
		args = append(args, z.Member, strconv.FormatFloat(z.Score, 'f', -1, 64))
	}
	return copyPageScript.Run(ctx, s.rdb, []string{state, todo}, args...).Text()
}

// fanOutJob is what a fan-out job's stream entry says: the tweet, the user
// whose followers get it and when it was posted (or reposted); for a post,
// the tweet it replies to and its tags; for a repost, the mark its entries
// get. (A repost's entry also says whether it undoes the repost, for
// older instances during an upgrade; a job now does what the repost's
// state says when it runs, repostTo.)
type fanOutJob struct {
	tweet, author, posted string
	parent                string
	tags                  []string
	via                   string
	// purge: the tweet was deleted; the job takes it off the timelines
	// of author (any user) and their followers.
	purge bool
}

func jobOf(msg redis.XMessage) fanOutJob {
	field := func(name string) string { v, _ := msg.Values[name].(string); return v }
	return fanOutJob{tweet: field("tweet"), author: field("author"), posted: field("time"), parent: field("reply_to"),
		tags: strings.Fields(field("tags")), via: field("via"), purge: field("purge") == "1"}
}

// unlistIfDeleted takes a post off its author's lists (pushOwn's) again if
// it was deleted while its job pushed it there.
func (s *Store) unlistIfDeleted(ctx context.Context, j fanOutJob) error {
	deleted, err := s.isDeleted(ctx, j.tweet)
	if err != nil || !deleted {
		return err
	}
	return s.unlistOwn(ctx, j.author, listing{tweet: j.tweet, parent: j.parent, tags: j.tags})
}

// pushTo pushes the tweet onto the followers' timelines, at most once each,
// then takes them out of the in-flight hash. A repost's chunk, and its
// undo's, is pushed or taken off by whether the repost stands as it runs
// (repostTo): the two jobs may run at once.
func (s *Store) pushTo(ctx context.Context, inflight string, j fanOutJob, followers []string) error {
	var err error
	switch {
	case j.purge:
		err = s.purgeFrom(ctx, j.tweet, followers)
	case j.via == "":
		var deleted bool
		if deleted, err = s.isDeleted(ctx, j.tweet); err != nil || deleted {
			break // a tweet deleted goes to nobody more
		}
		pushes := make([]*redis.Cmd, len(followers))
		err = s.pipelined(ctx, func(p redis.Pipeliner) {
			for i, f := range followers {
				id, _ := strconv.ParseUint(f, 10, 64)
				// EVAL, not EVALSHA: a node may not have the script yet, and a
				// pipeline cannot fall back from NOSCRIPT as Run does.
				pushes[i] = pushOnceScript.Eval(ctx, p, []string{timelineKey(f)}, j.tweet, UserTimelineCap, trimPoint(id), recentEntries)
			}
		})
		var made []string
		for i, c := range pushes {
			if n, _ := c.Int(); n == 1 {
				made = append(made, followers[i])
			}
		}
		if err == nil {
			err = s.unmadeIfLeaving(ctx, made)
		}
		if err == nil {
			err = s.deletedMeanwhile(ctx, j.tweet, followers)
		}
		if err == nil {
			s.events.Publish(ctx, &live.Event{Kind: live.KindHome, Tweet: j.tweet, Users: followers})
		}
	default:
		_, err = s.repostTo(ctx, j.tweet, j.author, j.via, followers)
	}
	if err != nil {
		return err
	}
	return s.rdb.HDel(ctx, inflight, followers...).Err()
}

// pushInFlight pushes to the followers a run of this job left in flight:
// this worker's, or, for a job taken over, any worker's.
func (s *Store) pushInFlight(ctx context.Context, inflight string, j fanOutJob, consumer string, takenOver bool) error {
	left, err := s.rdb.HGetAll(ctx, inflight).Result()
	if err != nil {
		return err
	}
	var mine []string
	for f, worker := range left {
		if takenOver || worker == consumer {
			mine = append(mine, f)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return s.pushTo(ctx, inflight, j, mine)
}
