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

// A post to more than InlineFanOut followers leaves the pushes onto their
// timelines to fan-out workers: the post script adds a job to a Redis
// stream (keyFanOut), and every pytwask process runs workers that read the
// stream as one consumer group, so each job goes to one worker at a time.
//
// A job runs in steps, each one script, so that no call holds Redis for
// long and a worker killed at any point leaves a job that another worker
// (or the restarted one) finishes, with every follower getting the tweet
// exactly once:
//
//  1. copy: the followers who followed the author by the time of the post
//     go into the job's to-do set, a page of the follower set at a time. A
//     set, so that a page copied twice (a worker that died before recording
//     where it was) adds nobody twice. The last page moves the job on to
//     push.
//  2. push: SPOP a chunk of the to-do set and push the tweet onto those
//     followers' timelines, in the same script: what was popped was pushed.
//  3. done: XACK and XDEL the job, and delete its state, in one script.
//
// A job's state (a hash: phase, the last follower copied, and the post) is keyed by its
// stream id. Steps check the phase, so a worker that lost the job to
// another (XAUTOCLAIM, after JobIdle without word from it) and wakes up late
// changes nothing that was settled. A follower who follows or unfollows
// while the job runs may or may not get the tweet; one who followed after
// the post never does.
const (
	// InlineFanOut is the most followers the post script pushes to itself:
	// well under a millisecond of Redis's time, so that a post is fast
	// whatever the author's audience; more followers make a job.
	InlineFanOut = 200
	// fanOutChunk is how many followers one copy step and one push step
	// serve.
	fanOutChunk = 500
	// JobIdle is how long a job may go without a step before another
	// worker takes it over: far longer than a step takes.
	JobIdle = 30 * time.Second
	// fanOutGroup is the stream's consumer group.
	fanOutGroup = "fanout"
)

// FanOutStats are the counts of the fan-out jobs this process ran.
type FanOutStats struct {
	Done      int64         // jobs finished here
	Retried   int64         // jobs taken over from a worker that went quiet
	LastLag   time.Duration // from the post to the end of the last job done
	Followers int64         // timelines pushed to
}

// jobStart: KEYS job state, stream; ARGV tweet, author, time, stream id.
// Creates the state of a job seen for the first time; a job taken over
// keeps its own. A job no longer in the stream was finished (jobDone
// deletes both at once) by a worker this one raced: 'gone', and nothing is
// created, so that it is not run twice.
var jobStartScript = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  if #redis.call('XRANGE', KEYS[2], ARGV[4], ARGV[4]) == 0 then return 'gone' end
  redis.call('HSET', KEYS[1], 'phase', 'copy', 'last', '', 'tweet', ARGV[1], 'author', ARGV[2], 'time', ARGV[3])
end
return redis.call('HGET', KEYS[1], 'phase')
`)

// copyStep: KEYS job state, to-do set, the author's follower set; ARGV
// count. The next count followers, in the set's order (follow time, then
// id), into the to-do set, those who followed by the post's time. Returns
// the phase after it.
//
// The place reached is kept as the last follower copied and its score, not
// as a ZSCAN cursor: a cursor means nothing to another server (each hashes
// with its own seed), and after a failover the job goes on on the replica.
// Ranks are the same everywhere. If that follower has unfollowed since, the
// copy goes on from the first follower with the same score: copying one
// twice is harmless, as the to-do set is a set and pushing starts after.
var copyStepScript = script(`
local job = redis.call('HMGET', KEYS[1], 'phase', 'last', 'last_score', 'time')
if job[1] ~= 'copy' then return job[1] or 'gone' end
local start, posted, count = 0, tonumber(job[4]), tonumber(ARGV[1])
if job[2] and job[2] ~= '' then
  local r = redis.call('ZRANK', KEYS[3], job[2])
  if r then start = r + 1 else start = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. job[3]) end
end
local page = redis.call('ZRANGE', KEYS[3], start, start + count - 1, 'WITHSCORES')
local later = false
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) <= posted then redis.call('SADD', KEYS[2], page[i]) else later = true end
end
if later or #page < 2 * count then
  redis.call('HSET', KEYS[1], 'phase', 'push')
  return 'push'
end
redis.call('HSET', KEYS[1], 'last', page[#page - 1], 'last_score', page[#page])
return 'copy'
`)

// pushStep: KEYS job state, to-do set; ARGV count, user timeline cap, slack.
// Pops up to count followers and pushes the tweet onto their timelines,
// but onto one that has it already: a repost of the tweet by someone else
// they follow can reach them before the job does, and leaves its mark in
// the timeline's via hash, which is one lookup where searching the list
// was one per entry.
// A tweet deleted meanwhile goes to nobody more: its chunks are popped and
// not pushed (its deletion takes it off the timelines pushed before). A
// timeline the push made (one entry) is checked for its account's deletion,
// which may have removed it before: then it goes again. Only a made one
// is, which saves a lookup a follower.
// Returns {how many it popped, then the followers it pushed to}, or {-1}
// when the job is not in its push phase.
var pushStepScript = script(`
local job = redis.call('HMGET', KEYS[1], 'phase', 'tweet')
if job[1] ~= 'push' then return {-1} end
` + pushLua + `
local todo = redis.call('SPOP', KEYS[2], ARGV[1])
local out = {#todo}
if redis.call('HEXISTS', '{tweet:}' .. job[2], '{deleted}') == 1 then return out end
for _, f in ipairs(todo) do
  if redis.call('HEXISTS', '{via:}' .. f .. '}', job[2]) == 0 then
    if push(f, job[2], tonumber(ARGV[2]), tonumber(ARGV[3])) == 1 and
       redis.call('HEXISTS', '{user:}' .. f, '{deleted}') == 1 then
      redis.call('DEL', '{timeline:}' .. f)
    else
      out[#out + 1] = f
    end
  end
end
return out
`)

// jobDone: KEYS stream, job state, to-do set; ARGV group, stream id. Ends a
// job whose to-do set is empty. Returns 1, or 0 if it was not in its push
// phase or has followers left.
var jobDoneScript = script(`
if redis.call('HGET', KEYS[2], 'phase') ~= 'push' or redis.call('SCARD', KEYS[3]) > 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`)

// fanOutHooks lets tests stop a job between its steps, as a worker killed
// there would: a hook that returns an error ends the job's run.
type fanOutHooks struct {
	afterStep func(phase string) error
}

// RunFanOut runs a fan-out worker named consumer until ctx ends: it takes
// new jobs, and jobs another worker left for JobIdle. Every pytwask
// process runs a few; names must differ between them (host and pid).
func (s *Store) RunFanOut(ctx context.Context, consumer string) {
	// Redis may not answer yet: pytwask started first at boot, or Redis
	// is loading its data. The worker waits for it, as it does for an
	// outage later on.
	for {
		err := s.ensureFanOutGroup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.fanOutFailed(ctx, err)
	}
	// First the jobs this worker had taken before it was restarted.
	if err := s.runPending(ctx, consumer); err != nil {
		s.fanOutFailed(ctx, err)
	}
	claimEvery := time.NewTicker(max(s.jobIdle/3, 10*time.Millisecond))
	defer claimEvery.Stop()
	// ownLeft: a job this worker holds failed part-way (Redis was down, or
	// failing over); it is run again as soon as Redis answers, rather than
	// after JobIdle.
	ownLeft := false
	for ctx.Err() == nil {
		if ownLeft {
			if err := s.runPending(ctx, consumer); err != nil {
				s.fanOutFailed(ctx, err)
				continue
			}
			ownLeft = false
		}
		select {
		case <-claimEvery.C:
			// Its own pending jobs too, then: one stays pending with no
			// failure seen when a failover demoted the primary that took
			// its acknowledgement (planned, the old primary takes writes a
			// moment after the new one does).
			ownLeft = true
			if err := s.claimIdleJobs(ctx, consumer); err != nil {
				s.fanOutFailed(ctx, err)
			}
		default:
		}
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: fanOutGroup, Consumer: consumer, Streams: []string{keyFanOut, ">"}, Count: 8, Block: time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			s.fanOutFailed(ctx, err)
			continue
		}
		if _, err := s.runJobs(ctx, consumer, streams); err != nil {
			s.fanOutFailed(ctx, err)
			ownLeft = true
		}
	}
}

// runJobs runs the jobs read from the stream, and says how many there were.
func (s *Store) runJobs(ctx context.Context, consumer string, streams []redis.XStream) (int, error) {
	n := 0
	for _, st := range streams {
		for _, msg := range st.Messages {
			n++
			if err := s.runJob(ctx, consumer, msg, fanOutHooks{}); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// DrainFanOut runs every fan-out job waiting in the stream, new ones and
// ones left idle by a worker that stopped, and returns when there are none
// left: for pytwask cli, whose posts would otherwise wait for a server's
// workers.
func (s *Store) DrainFanOut(ctx context.Context, consumer string) error {
	if err := s.ensureFanOutGroup(ctx); err != nil {
		return err
	}
	// Its own jobs left part-way by an earlier run of the same name first.
	if err := s.runPending(ctx, consumer); err != nil {
		return err
	}
	if err := s.claimIdleJobs(ctx, consumer); err != nil {
		return err
	}
	for {
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: fanOutGroup, Consumer: consumer, Streams: []string{keyFanOut, ">"}, Count: 8, Block: -1,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("fan-out: %w", err)
		}
		if n, err := s.runJobs(ctx, consumer, streams); n == 0 || err != nil {
			return err
		}
	}
}

func (s *Store) ensureFanOutGroup(ctx context.Context) error {
	// From the stream's start: jobs posted before the first worker ran.
	err := s.rdb.XGroupCreateMkStream(ctx, keyFanOut, fanOutGroup, "0").Err()
	if err != nil && !isBusyGroup(err) {
		return fmt.Errorf("fan-out: create the consumer group: %w", err)
	}
	return nil
}

func isBusyGroup(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && len(re.Error()) >= 9 && re.Error()[:9] == "BUSYGROUP"
}

// isStreamGone: the stream or its group is gone (the database was wiped),
// for a read (NOGROUP), or while a read was blocked on it (UNBLOCKED).
func isStreamGone(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && (strings.HasPrefix(re.Error(), "NOGROUP") || strings.HasPrefix(re.Error(), "UNBLOCKED"))
}

// runPending runs the jobs delivered to consumer and not finished: a worker
// of the same name that was stopped or killed had them.
//
// It asks XPENDING first, which only reads: an XREADGROUP of a consumer's
// pending jobs counts as a change to the database even when there are
// none (Redis 7), and the worker asks every few seconds, so an idle site
// would set off the snapshots of a Redis that saves after a few changes.
func (s *Store) runPending(ctx context.Context, consumer string) error {
	for {
		pending, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: keyFanOut, Group: fanOutGroup, Consumer: consumer, Start: "-", End: "+", Count: 1,
		}).Result()
		if err != nil {
			return fmt.Errorf("fan-out: look for pending jobs: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: fanOutGroup, Consumer: consumer, Streams: []string{keyFanOut, "0"}, Count: 8,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("fan-out: read pending jobs: %w", err)
		}
		if n, err := s.runJobs(ctx, consumer, streams); n == 0 || err != nil {
			return err
		}
	}
}

// claimIdleJobs takes over the jobs whose worker has said nothing for
// jobIdle (killed, or cut off from Redis), and runs them.
func (s *Store) claimIdleJobs(ctx context.Context, consumer string) error {
	start := "0-0"
	for {
		msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: keyFanOut, Group: fanOutGroup, Consumer: consumer, MinIdle: s.jobIdle, Start: start, Count: 8,
		}).Result()
		if err != nil {
			return fmt.Errorf("fan-out: claim idle jobs: %w", err)
		}
		for _, msg := range msgs {
			s.fanOut.retried.Add(1)
			if err := s.runJobFrom(ctx, consumer, msg, true, fanOutHooks{}); err != nil {
				return err
			}
		}
		if next == "0-0" || len(msgs) == 0 {
			return nil
		}
		start = next
	}
}

// runJob runs a job from wherever its state says it is.
func (s *Store) runJob(ctx context.Context, consumer string, msg redis.XMessage, hooks fanOutHooks) error {
	return s.runJobFrom(ctx, consumer, msg, false, hooks)
}

// runJobFrom is runJob of a job that was, if takenOver, claimed from a
// worker that went quiet. On a Cluster, and for a repost's or a deletion's
// job everywhere, it runs in single-key steps (runJobSharded); a post's job
// on one server in scripts over many keys.
func (s *Store) runJobFrom(ctx context.Context, consumer string, msg redis.XMessage, takenOver bool, hooks fanOutHooks) error {
	if s.sharded || msg.Values["via"] != nil || msg.Values["purge"] != nil {
		return s.runJobSharded(ctx, consumer, msg, takenOver, hooks)
	}
	tweet, _ := msg.Values["tweet"].(string)
	author, _ := msg.Values["author"].(string)
	posted, _ := msg.Values["time"].(string)
	state, todo := fanOutJobKey(msg.ID), fanOutTodoKey(msg.ID)
	step := func(phase string) error {
		if hooks.afterStep != nil {
			return hooks.afterStep(phase)
		}
		return nil
	}
	phase, err := jobStartScript.Run(ctx, s.rdb, []string{state, keyFanOut}, tweet, author, posted, msg.ID).Text()
	if err != nil {
		return fmt.Errorf("fan-out of tweet %s: start: %w", tweet, err)
	}
	if phase == "gone" {
		return nil
	}
	for phase == "copy" {
		if phase, err = copyStepScript.Run(ctx, s.rdb, []string{state, todo, followerKey(author)}, fanOutChunk).Text(); err != nil {
			return fmt.Errorf("fan-out of tweet %s: copy the followers: %w", tweet, err)
		}
		if err := s.touchJob(ctx, consumer, msg.ID); err != nil {
			return err
		}
		if err := step("copy"); err != nil {
			return err
		}
	}
	for {
		res, err := pushStepScript.Run(ctx, s.rdb, []string{state, todo}, fanOutChunk, UserTimelineCap, UserTimelineSlack).Slice()
		if err != nil {
			return fmt.Errorf("fan-out of tweet %s: push: %w", tweet, err)
		}
		n, _ := res[0].(int64)
		if n <= 0 {
			break
		}
		s.fanOut.followers.Add(n)
		if len(res) > 1 {
			s.events.Publish(ctx, &live.Event{Kind: live.KindHome, Tweet: tweet, Users: strs(res[1:])})
		}
		if err := s.touchJob(ctx, consumer, msg.ID); err != nil {
			return err
		}
		if err := step("push"); err != nil {
			return err
		}
	}
	done, err := jobDoneScript.Run(ctx, s.rdb, []string{keyFanOut, state, todo}, fanOutGroup, msg.ID).Int64()
	if err != nil {
		return fmt.Errorf("fan-out of tweet %s: finish: %w", tweet, err)
	}
	if done == 1 {
		s.fanOut.done.Add(1)
		if sec, err := strconv.ParseInt(posted, 10, 64); err == nil {
			s.fanOut.lastLag.Store(int64(s.now().Sub(time.Unix(sec, 0))))
		}
	}
	return nil
}

// touchJob tells the group that the job's worker is alive (XCLAIM to itself
// resets the job's idle time), so that no other worker takes it over while
// it runs.
func (s *Store) touchJob(ctx context.Context, consumer, id string) error {
	if err := s.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: keyFanOut, Group: fanOutGroup, Consumer: consumer, MinIdle: 0, Messages: []string{id},
	}).Err(); err != nil {
		return fmt.Errorf("fan-out: keep job %s: %w", id, err)
	}
	return nil
}

// fanOutFailed logs a failed step, and waits a moment before the next, so
// that a Redis that is down is not asked in a tight loop. A stream gone
// with a wiped database is made again instead, and the next step goes on
// at once.
func (s *Store) fanOutFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if isStreamGone(err) {
		if err = s.ensureFanOutGroup(ctx); err == nil {
			s.log.Warn("fan-out: the job stream was gone, as after a wipe of the database; made it again")
			return
		}
	}
	s.log.Warn("fan-out", "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// FanOutStats returns this process's fan-out counts.
func (s *Store) FanOutStats() FanOutStats {
	return FanOutStats{Done: s.fanOut.done.Load(), Retried: s.fanOut.retried.Load(),
		LastLag: time.Duration(s.fanOut.lastLag.Load()), Followers: s.fanOut.followers.Load()}
}

// FanOutQueued is how many fan-out jobs are in the stream: waiting, or
// under way.
func (s *Store) FanOutQueued(ctx context.Context) (int64, error) {
	return s.rdb.XLen(ctx, keyFanOut).Result()
}

// FanOutInProgress is how many fan-out jobs a worker has taken and not
// finished, in every instance.
func (s *Store) FanOutInProgress(ctx context.Context) (int64, error) {
	p, err := s.rdb.XPending(ctx, keyFanOut, fanOutGroup).Result()
	if err != nil {
		return 0, err
	}
	return p.Count, nil
}
