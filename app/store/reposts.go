package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// Likes and reposts are a user's mark on a tweet: the user's id in the
// tweet's set (pytwask:likes:{tweet:<id>}, pytwask:reposts:{tweet:<id>})
// and the tweet's count beside pytwis's fields, changed together by one
// script in the tweet's slot; then the tweet's id in the user's own set
// (pytwask:liked:<id>, pytwask:reposted:<id>), which pages read to show
// what the viewer did. Asking twice changes nothing the second time, and
// of 100 users asking at once each is counted once.
//
// A repost also puts the tweet on the timelines of the reposter and their
// followers, once each: a timeline that has it already (from its author,
// or another repost) is left alone, and the others get it with a mark in
// pytwask:via:{timeline:<id>} that names the reposter. pytwis reads the
// tweet's own id there, as any tweet. Undoing the repost takes it off the
// timelines whose mark names this reposter. Up to InlineFanOut followers
// are served in the request, more by a fan-out job (fanout_cluster.go).

// markScript: KEYS a tweet's hash, its likes or reposts set (one slot);
// ARGV user id, '1' to add or '0' to remove, the count's field. Returns 1
// when the set changed (and the count with it), 0 when it was so already,
// -1 when the tweet does not exist or was deleted.
//
// To remove, the count goes first: when Redis is full (WritesRefused) it
// refuses that before anything changed, where a removal first would be
// taken and the undo's timelines (fanOutRepost) then refused.
var markScript = script(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], '{deleted}') == 1 then return -1 end
if ARGV[2] == '1' then
  if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
  redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
  return 1
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[3], -1)
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`)

// repushScript: KEYS a user's timeline, its via hash (one slot); ARGV tweet
// id, the mark ("<reposter id> <name>"), cap, trim point, '1' to undo, the
// most marks kept. Pushes the tweet with the mark unless the timeline has
// it already; or, to undo, takes it off if the mark is this one. Marks of
// entries trimmed away are dropped once there are more than the most kept.
// Returns 0 when it left the timeline as it was, 1 for an undo, and for a
// push the timeline's length after it (1: the push made it).
var repushScript = script(`
if ARGV[5] == '1' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('LREM', KEYS[1], 0, ARGV[1])
  return 1
end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
local len = redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if len > tonumber(ARGV[4]) then redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1) end
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[6]) then
  local kept = {}
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do kept[id] = true end
  for _, id in ipairs(redis.call('HKEYS', KEYS[2])) do
    if not kept[id] then redis.call('HDEL', KEYS[2], id) end
  end
end
return len
`)

// Like records that the user whose secret it is likes the tweet, or with
// like false that they no longer do. The author is told of a like, and an
// unlike takes that back. ErrNoSuchTweet if it does not exist.
func (s *Store) Like(ctx context.Context, secret, id string, like bool) error {
	// Once marked, asking again changes nothing: the notice follows
	// whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	v, changed, err := s.mark(ctx, secret, id, like, likesKey, fieldLikes, likedKey)
	if err != nil || !changed {
		return err
	}
	s.tellAuthor(ctx, NotifyLike, v.ID, id, likesKey)
	return nil
}

// tellAuthor notifies the author of tweet id that actor liked or reposted
// it (kind), or takes the notification back, as it stands by the tweet's
// set when told (agree): a like and its undo at the same moment would
// otherwise leave a notice of a like undone, or none of one that stands.
func (s *Store) tellAuthor(ctx context.Context, kind, actor, id string, set func(string) string) {
	author, err := s.rdb.HGet(ctx, tweetKey(id), fieldTweetUserID).Result()
	if err != nil {
		return // the tweet is gone since, and its notifications are not shown
	}
	s.tellAsItStands(ctx, notice{author, kind, actor, id},
		func() (bool, error) { return s.rdb.SIsMember(ctx, set(id), actor).Result() })
}

// tellAsItStands notifies n's user of what n says, or takes it back, as
// stands says (agree). Best effort, as notify is.
func (s *Store) tellAsItStands(ctx context.Context, n notice, stands func() (bool, error)) {
	_ = agree(stands, func(stands bool) error {
		if stands {
			s.notify(ctx, n.kind, n.actor, n.tweet, n.user)
		} else {
			s.unnotify(ctx, n)
		}
		return nil
	})
}

// Repost records that the user whose secret it is reposted the tweet, and
// puts it on their followers' timelines; with repost false it undoes that.
// The author is told of a repost, and an undo takes that back.
// ErrNoSuchTweet if it does not exist.
func (s *Store) Repost(ctx context.Context, secret, id string, repost bool) error {
	// Once marked, asking again changes nothing: the timelines and the
	// notice follow whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	v, changed, err := s.mark(ctx, secret, id, repost, repostsKey, fieldReposts, repostedKey)
	if err != nil || !changed {
		return err
	}
	if err := s.fanOutRepost(ctx, v, id); err != nil {
		return fmt.Errorf("repost tweet %s: %w", id, err)
	}
	s.tellAuthor(ctx, NotifyRepost, v.ID, id, repostsKey)
	return nil
}

// mark adds the user whose secret it is to the tweet's set (on) or takes
// them out, with the count in field, then makes the user's own set agree
// with the tweet's (agree) whether or not the first changed anything,
// which mends a user's set left behind by a failure or by the opposite
// mark at the same moment. It returns the user and whether the
// tweet's set changed; ErrNotLoggedIn, with nothing marked, when the
// user's account deletion began meanwhile.
func (s *Store) mark(ctx context.Context, secret, id string, on bool, set func(string) string, field string,
	userSet func(string) string) (*Viewer, bool, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return nil, false, err
	}
	if !ValidTweetID(id) {
		return v, false, ErrNoSuchTweet
	}
	flag := "0"
	if on {
		flag = "1"
	}
	n, err := markScript.Run(ctx, s.rdb, []string{tweetKey(id), set(id)}, v.ID, flag, field).Int()
	if err != nil {
		return v, false, fmt.Errorf("%s of tweet %s: %w", field, id, err)
	}
	if n < 0 {
		return v, false, ErrNoSuchTweet
	}
	if n == 1 {
		s.counts.forget(id)
		s.publishCounts(ctx, id)
	}
	err = agree(
		func() (bool, error) { return s.rdb.SIsMember(ctx, set(id), v.ID).Result() },
		func(in bool) error {
			if in {
				return s.rdb.SAdd(ctx, userSet(v.ID), id).Err()
			}
			return s.rdb.SRem(ctx, userSet(v.ID), id).Err()
		})
	if err != nil {
		return v, false, fmt.Errorf("%s of tweet %s: %w", field, id, err)
	}
	err = s.unlessDeleted(ctx, v.ID, func() error {
		if !on {
			return nil
		}
		if err := s.unmark(ctx, v.ID, set, field, id); err != nil {
			return err
		}
		return s.rdb.SRem(ctx, userSet(v.ID), id).Err()
	})
	switch {
	case errors.Is(err, ErrNotLoggedIn):
		return v, false, err
	case err != nil:
		return v, false, fmt.Errorf("%s of tweet %s: %w", field, id, err)
	}
	return v, n == 1, nil
}

// fanOutRepost puts the tweet on the timelines of the reposter and their
// followers, or takes it off those a repost undone put it on (repostTo):
// here for up to InlineFanOut followers, by a fan-out job for more.
func (s *Store) fanOutRepost(ctx context.Context, v *Viewer, tweet string) error {
	via := v.ID + " " + v.Username
	stands, err := s.repostTo(ctx, tweet, v.ID, via, []string{v.ID})
	if err != nil {
		return err
	}
	n, err := s.rdb.ZCard(ctx, followerKey(v.ID)).Result()
	if err != nil {
		return err
	}
	if n > int64(s.inlineFanOut) {
		return s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: keyFanOut, Values: []any{
			"tweet", tweet, "author", v.ID, "time", s.now().Unix(), "via", via, "undo", undoFlag(!stands)}}).Err()
	}
	followers, err := s.rdb.ZRange(ctx, followerKey(v.ID), 0, -1).Result()
	if err != nil {
		return err
	}
	_, err = s.repostTo(ctx, tweet, v.ID, via, followers)
	return err
}

// repostTo puts the tweet on the users' timelines as reposted by reposter
// (via) if that repost stands, or takes it off them if it does not, by the
// tweet's reposts set (agree), and says which. Not by what the caller
// did: a repost and its undo at the same moment (two tabs) would each
// write some timelines last, and leave a repost shown that is undone, or
// one that stands shown nowhere.
func (s *Store) repostTo(ctx context.Context, tweet, reposter, via string, users []string) (stands bool, err error) {
	err = agree(
		func() (bool, error) {
			var err error
			stands, err = s.rdb.SIsMember(ctx, repostsKey(tweet), reposter).Result()
			return stands, err
		},
		func(stands bool) error {
			if err := s.repushTo(ctx, tweet, via, !stands, users); err != nil || !stands {
				return err
			}
			return s.deletedMeanwhile(ctx, tweet, users)
		})
	return stands, err
}

func undoFlag(undo bool) string {
	if undo {
		return "1"
	}
	return "0"
}

// repushTo runs repushScript on the timelines of users, in one pipeline.
// The timelines it put the tweet on are told to their pages (live.KindHome);
// those it made are checked for deletions of their accounts (unmadeIfLeaving).
func (s *Store) repushTo(ctx context.Context, tweet, via string, undo bool, users []string) error {
	cmds := make([]*redis.Cmd, len(users))
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, u := range users {
			id, _ := strconv.ParseUint(u, 10, 64)
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			cmds[i] = repushScript.Eval(ctx, p, []string{timelineKey(u), viaKey(u)}, tweet, via, UserTimelineCap, trimPoint(id),
				undoFlag(undo), UserTimelineCap+UserTimelineSlack)
		}
	})
	if err != nil || undo {
		return err
	}
	var reached, made []string
	for i, c := range cmds {
		n, _ := c.Int()
		if n > 0 {
			reached = append(reached, users[i])
		}
		if n == 1 {
			made = append(made, users[i])
		}
	}
	if err := s.unmadeIfLeaving(ctx, made); err != nil {
		return err
	}
	if len(reached) > 0 {
		_, name, _ := strings.Cut(via, " ")
		s.events.Publish(ctx, &live.Event{Kind: live.KindHome, Tweet: tweet, Users: reached, Via: name})
	}
	return nil
}
