package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
	"pytwask/app/password"
)

// Deleting an account removes what the user made: their tweets (each as
// DeleteTweet does), follows both ways, likes and reposts, notifications,
// sessions and profile. pytwis reads a deleted tweet's tombstone and looks
// up its author's name, so user:<id> stays with the username alone and
// pytwask_deleted; the name leaves users (pytwis and pytwask no longer
// know it) and is held in pytwask:reserved:<folded name> for a while, so
// that nobody takes it over at once. The steps are each safe to run again:
// deleting an account cut short (Redis went away) is finished by deleting
// it again, as an operator, by name (AccountOf finds it until its folded
// name is released, the last step).

// DefaultNameHold is how long a deleted account's name stays reserved.
const DefaultNameHold = 30 * 24 * time.Hour

const prefixReserved = "pytwask:reserved:"

func reservedKey(folded string) string { return prefixReserved + folded }

// ErrNameReserved refuses a sign-up with the name of an account deleted
// not long ago.
var ErrNameReserved = &Error{Conflict, "That username belonged to an account deleted recently; choose another."}

// Account is what deleting an account removes, counted.
type Account struct {
	ID, Username                  string
	Tweets, Followers, Following  int64
	Likes, Reposts, Notifications int64
	// Unfinished: the account's deletion began and was cut short; it has
	// left users, and deleting it again finishes it.
	Unfinished bool
}

// AccountOf counts what deleting the account of username would remove,
// for an account or one whose deletion was cut short (Unfinished). NotFound
// if there is neither.
func (s *Store) AccountOf(ctx context.Context, username string) (Account, error) {
	a := Account{Username: username}
	id, err := s.rdb.HGet(ctx, keyUsers, username).Result()
	if errors.Is(err, redis.Nil) {
		id, err = s.unfinishedDeletion(ctx, username)
		a.Unfinished = id != ""
	}
	if err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", username, err)
	}
	if id == "" {
		return Account{}, refuse(NotFound, "username %s doesn't exist", username)
	}
	a.ID = id
	var tweets, followers, following, likes, reposts, notes *redis.IntCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		tweets, followers, following = p.LLen(ctx, tweetsByKey(id)), p.ZCard(ctx, followerKey(id)), p.ZCard(ctx, followingKey(id))
		likes, reposts, notes = p.SCard(ctx, likedKey(id)), p.SCard(ctx, repostedKey(id)), p.LLen(ctx, notificationsKey(id))
	}); err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", username, err)
	}
	a.Tweets, a.Followers, a.Following = tweets.Val(), followers.Val(), following.Val()
	a.Likes, a.Reposts, a.Notifications = likes.Val(), reposts.Val(), notes.Val()
	return a, nil
}

// DeleteAccount deletes the account of the user whose secret it is, once
// pw is their password (CheckPassword). The name is held for hold.
func (s *Store) DeleteAccount(ctx context.Context, client, secret, pw string, hold time.Duration) error {
	v, err := s.CheckPassword(ctx, client, secret, pw)
	if err != nil {
		return err
	}
	return s.deleteAccount(ctx, v.ID, v.Username, hold)
}

// CheckPassword returns the viewer whose secret it is if pw is their
// password, ErrIncorrectPassword if not: for a change that a session alone
// must not make. It is checked as ChangePassword checks the old one; client
// names the line the check waits in.
func (s *Store) CheckPassword(ctx context.Context, client, secret, pw string) (*Viewer, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return nil, err
	}
	stored, err := s.rdb.HGet(ctx, userKey(v.ID), fieldPasswordHash).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("check the password: %w", err)
	}
	var ok bool
	if err := s.withHashSlot(ctx, client, func() {
		if ok, _ = password.Verify(stored, pw); !ok {
			s.padRefusal(stored, pw)
		}
	}); err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrIncorrectPassword
	}
	return v, nil
}

// unfinishedDeletion returns the id of the account named username whose
// deletion began and did not end ("" if none): marked deleted, and out of
// users, but its folded name, released last, still names it.
func (s *Store) unfinishedDeletion(ctx context.Context, username string) (string, error) {
	id, err := s.rdb.HGet(ctx, keyFoldedNames, FoldUsername(username)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	u, err := s.rdb.HMGet(ctx, userKey(id), fieldUsername, fieldDeleted).Result()
	if err != nil {
		return "", err
	}
	if u[0] != username || u[1] == nil {
		return "", nil
	}
	return id, nil
}

// unlessDeleted is the last step of a write by the user that the deletion
// of their account could miss: a deletion marks the account first, then
// reads what it holds, so unless the mark is set by now it will find the
// write. If it is set, undo takes the write back, and the answer is
// ErrNotLoggedIn: the user's sessions are ending.
func (s *Store) unlessDeleted(ctx context.Context, userID string, undo func() error) error {
	gone, err := s.rdb.HExists(ctx, userKey(userID), fieldDeleted).Result()
	if err != nil || !gone {
		return err
	}
	if err := undo(); err != nil {
		return err
	}
	return ErrNotLoggedIn
}

// DeleteUser deletes the account of username, for an operator: no password.
// It also finishes a deletion that was cut short.
func (s *Store) DeleteUser(ctx context.Context, username string, hold time.Duration) error {
	a, err := s.AccountOf(ctx, username)
	if err != nil {
		return err
	}
	return s.deleteAccount(ctx, a.ID, username, hold)
}

func (s *Store) deleteAccount(ctx context.Context, id, username string, hold time.Duration) error {
	// Once begun, a deletion goes on to its end whatever its caller does:
	// a browser closed half way would leave an account without its
	// sessions and name, which only an operator can then finish.
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("delete account %s: %s: %w", username, what, err)
	}
	folded := FoldUsername(username)
	now := s.now().Unix()
	// The name is held before it leaves users, and the sessions end.
	if hold > 0 {
		if err := s.rdb.Set(ctx, reservedKey(folded), id, hold).Err(); err != nil {
			return fail("hold the name", err)
		}
	}
	secret, err := s.rdb.HGet(ctx, userKey(id), fieldAuth).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fail("read the user", err)
	}
	// The mark first, on its own: when Redis is full (WritesRefused) it
	// refuses the mark but would take the removals after it, which would
	// leave an account without sessions or name that is not marked, and
	// that an operator could then neither find nor finish.
	if err := s.rdb.HSet(ctx, userKey(id), fieldDeleted, now).Err(); err != nil {
		return fail("mark the account", err)
	}
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		if secret != "" {
			p.HDel(ctx, keyAuths, secret)
		}
		// The name leaves users only if it is still this account's: a
		// second deletion at once (a double click) may come after a new
		// sign-up of it, when there is no hold. EVAL, not EVALSHA: a
		// pipeline cannot fall back from NOSCRIPT.
		if s.sharded {
			// No count to keep: a Cluster's users are all pytwask's, and
			// registerSharded refolds only for fewer names than users.
			hdelIfScript.Eval(ctx, p, []string{keyUsers}, username, id)
		} else {
			unregisterScript.Eval(ctx, p, []string{keyUsers, keyFoldedCount}, username, id)
		}
		p.HDel(ctx, userKey(id), fieldAuth, fieldPasswordHash)
	}); err != nil {
		return fail("end the sessions", err)
	}
	if secret != "" {
		s.events.Publish(ctx, &live.Event{Kind: live.KindEnd, Session: live.SessionTag(secret)})
	}
	// Their tweets, newest first.
	tweets, err := s.rdb.LRange(ctx, tweetsByKey(id), 0, -1).Result()
	if err != nil {
		return fail("list the tweets", err)
	}
	// Whom the account told of something (notify): those its tweets told,
	// read before the tweets go, and the authors of what it liked or
	// reposted, and whom it followed, below. Their notifications by it are
	// taken back at the end, a user at a time.
	told := map[string]bool{}
	for chunk := range slices.Chunk(tweets, fanOutChunk) {
		notices, err := s.noticesOf(ctx, chunk...)
		if err != nil {
			return fail("list the notifications of the tweets", err)
		}
		for _, n := range notices {
			told[n.user] = true
		}
	}
	for chunk := range slices.Chunk(tweets, fanOutChunk) {
		if err := s.deleteTweets(ctx, id, false, chunk...); err != nil { // their followers below
			return fail("delete the tweets", err)
		}
	}
	// Their likes and reposts, taken back.
	liked, err := s.rdb.SMembers(ctx, likedKey(id)).Result()
	if err != nil {
		return fail("list the likes", err)
	}
	reposted, err := s.rdb.SMembers(ctx, repostedKey(id)).Result()
	if err != nil {
		return fail("list the reposts", err)
	}
	for chunk := range slices.Chunk(append(liked, reposted...), fanOutChunk) {
		authors := make([]*redis.StringCmd, len(chunk))
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			for i, t := range chunk {
				authors[i] = p.HGet(ctx, tweetKey(t), fieldTweetUserID)
			}
		}); err != nil {
			return fail("list the authors of the likes and reposts", err)
		}
		for _, a := range authors {
			told[a.Val()] = true
		}
	}
	for chunk := range slices.Chunk(liked, fanOutChunk) {
		if err := s.unmark(ctx, id, likesKey, fieldLikes, chunk...); err != nil {
			return fail("take back the likes", err)
		}
	}
	for chunk := range slices.Chunk(reposted, fanOutChunk) {
		if err := s.unmark(ctx, id, repostsKey, fieldReposts, chunk...); err != nil {
			return fail("undo the reposts", err)
		}
	}
	// Off the followers' timelines here, rather than by the deletions'
	// jobs, which would find no followers once the follows are gone: the
	// tweets, and what the user reposted there. A timeline holds at most
	// a cap and its slack of entries, so no more of the newest tweets can
	// be there (an older one reposted is its reposter's purge job's). And
	// no pipeline carries more than purgeArgs of them: each follower's
	// call carries them all, and a few thousand followers of an account
	// with a few thousand tweets were more than Redis read within the
	// client's timeout.
	var followers, following *redis.StringSliceCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		followers, following = p.ZRange(ctx, followerKey(id), 0, -1), p.ZRange(ctx, followingKey(id), 0, -1)
	}); err != nil {
		return fail("list the follows", err)
	}
	recent := tweets[:min(len(tweets), UserTimelineCap+UserTimelineSlack)]
	args := make([]any, 0, len(recent)+1)
	args = append(args, id+" ")
	for _, t := range recent {
		args = append(args, t)
	}
	for f := range slices.Chunk(followers.Val(), max(1, min(fanOutChunk, purgeArgs/len(args)))) {
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			for _, u := range f {
				// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
				purgeAccountScript.Eval(ctx, p, []string{timelineKey(u), viaKey(u)}, args...)
			}
		}); err != nil {
			return fail("take the tweets off the followers' timelines", err)
		}
	}
	// Follows, from the others' side first: pytwis lists a user's
	// followers by their ids.
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, f := range followers.Val() {
			p.ZRem(ctx, followingKey(f), id)
		}
		for _, f := range following.Val() {
			p.ZRem(ctx, followerKey(f), id)
		}
	}); err != nil {
		return fail("remove the follows", err)
	}
	for _, f := range following.Val() {
		told[f] = true
	}
	notices := make([]notice, 0, len(told))
	for u := range told {
		notices = append(notices, notice{u, "", id, ""})
	}
	for chunk := range slices.Chunk(notices, fanOutChunk) {
		s.unnotify(ctx, chunk...)
	}
	address, err := s.AddressOf(ctx, id)
	if err != nil {
		return fail("read the email address", err)
	}
	if address != "" {
		if err := s.forgetAddress(ctx, id, address); err != nil {
			return fail("remove the email address", err)
		}
	}
	// The name a search finds goes unless a new account has it already
	// (after a deletion of this one that ended first).
	var named, foldedAs *redis.StringCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		named, foldedAs = p.HGet(ctx, keyUsers, username), p.HGet(ctx, keyFoldedNames, folded)
	}); err != nil {
		return fail("read the name", err)
	}
	taken := named.Val() != "" && named.Val() != id || foldedAs.Val() != "" && foldedAs.Val() != id
	member := folded + " " + username
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, k := range []string{followerKey(id), followingKey(id), timelineKey(id), tweetsByKey(id), viaKey(id),
			notificationsKey(id), unreadKey(id), likedKey(id), repostedKey(id)} {
			p.Del(ctx, k)
		}
		if !taken {
			p.ZRem(ctx, keyNames, member)
			for _, g := range nameGrams(folded) {
				p.SRem(ctx, prefixNameGram+g, member)
			}
		}
	}); err != nil {
		return fail("remove the profile", err)
	}
	// Last, the folded name, if still this account's: until here a
	// sign-up of the name in any case is refused as taken.
	if err := hdelIfScript.Run(ctx, s.rdb, []string{keyFoldedNames}, folded, id).Err(); err != nil {
		return fail("release the name", err)
	}
	return nil
}

// purgeArgs bounds the tweet ids that one pipeline of purgeAccountScript
// calls carries.
const purgeArgs = 50_000

// purgeAccountScript: KEYS a user's timeline, its via hash (one slot);
// ARGV a deleted user's repost mark prefix ("<id> "), then their tweets'
// ids. Takes those tweets, and the entries their reposts put there, off
// the timeline (at most UserTimelineCap plus its slack long) in one pass,
// and their reposts' marks, also of entries trimmed off since.
var purgeAccountScript = script(`
local gone, marked = {}, {}
for i = 2, #ARGV do gone[ARGV[i]] = true end
local marks = redis.call('HGETALL', KEYS[2])
for i = 1, #marks, 2 do
  if string.sub(marks[i + 1], 1, #ARGV[1]) == ARGV[1] then
    gone[marks[i]] = true
    marked[#marked + 1] = marks[i]
  end
end
for i = 1, #marked, 1000 do redis.call('HDEL', KEYS[2], unpack(marked, i, math.min(i + 999, #marked))) end
local kept, removed = {}, 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if gone[id] then removed = removed + 1; redis.call('HDEL', KEYS[2], id) else kept[#kept + 1] = id end
end
if removed > 0 then
  redis.call('DEL', KEYS[1])
  for i = 1, #kept, 1000 do redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept))) end
end
return removed
`)

// unmark takes the user out of the tweets' likes or reposts sets, with
// their counts (mark's undo, by id), in one round trip. The user's own set
// is the caller's.
func (s *Store) unmark(ctx context.Context, userID string, set func(string) string, field string, tweets ...string) error {
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, t := range tweets {
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			markScript.Eval(ctx, p, []string{tweetKey(t), set(t)}, userID, "0", field)
		}
	}); err != nil {
		return err
	}
	for _, t := range tweets {
		s.counts.forget(t)
	}
	return nil
}

// nameHeld reports whether a deleted account's name is still reserved.
func (s *Store) nameHeld(ctx context.Context, username string) (bool, error) {
	n, err := s.rdb.Exists(ctx, reservedKey(FoldUsername(username))).Result()
	return n > 0, err
}
