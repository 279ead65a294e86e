package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Editing a tweet. The author may change a tweet's text for a while after
// posting it (the window, PYTWASK_EDIT_WINDOW). pytwis reads the current
// text in body; pytwask_edited holds the time of the last edit, and
// pytwask:versions:{tweet:<id>} (a list, newest first) the earlier texts,
// each "<unix time> <text>", the time being when that text was written.
// pytwask:mentioned:{tweet:<id>} (a set) holds the names ever mentioned,
// so that an edit tells only those it mentions for the first time. One
// script in the tweet's slot changes all of them; then, as for a deletion
// (delete.go), a new generation drops every instance's cached tweets, and
// the tags' lists follow the new text.

// DefaultEditWindow is how long after posting a tweet may be edited.
const DefaultEditWindow = 30 * time.Minute

// editScript: KEYS a tweet's hash, its versions list, its mentioned set
// (one slot); ARGV the user's id, the new text, the users it mentions
// (space-separated), unix time now, the last unix time an edit is allowed
// for a tweet posted then (now - window), then the names the tweet told of
// it already (its parent's author). Marks the edit under way ({editing}).
// Returns {1, the old text, then the names mentioned for the first time};
// {0} when the text is the same;
// {-1} no such tweet (or deleted); {-2} someone else's; {-3} too late.
var editScript = script(`
local t = redis.call('HMGET', KEYS[1], '{userid}', '{unix_time}', '{body}', '{mentions}', '{deleted}', '{edited}')
if not t[1] or t[5] then return {-1} end
if t[1] ~= ARGV[1] then return {-2} end
if tonumber(t[2] or '0') < tonumber(ARGV[5]) then return {-3} end
local old = t[3] or ''
if old == ARGV[2] then return {0} end
redis.call('LPUSH', KEYS[2], (t[6] or t[2]) .. ' ' .. old)
redis.call('HSET', KEYS[1], '{body}', ARGV[2], '{edited}', ARGV[4], '{editing}', '1')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], '{mentions}', ARGV[3]) else redis.call('HDEL', KEYS[1], '{mentions}') end
for name in string.gmatch(t[4] or '', '%S+') do redis.call('SADD', KEYS[3], name) end
for i = 6, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
local out = {1, old}
for name in string.gmatch(ARGV[3], '%S+') do
  if redis.call('SADD', KEYS[3], name) == 1 then out[#out + 1] = name end
end
return out
`)

// insertByIDScript: KEYS a list of tweet ids, newest (highest) first; ARGV
// a tweet id. Puts the id where its number belongs among the list's newest
// 200 entries, unless it is there already. For a tweet edited to carry a
// tag: it is recent, so its place is near the head.
var insertByIDScript = script(`
if redis.call('LPOS', KEYS[1], ARGV[1], 'MAXLEN', 200) then return 0 end
local id = tonumber(ARGV[1])
local head = redis.call('LRANGE', KEYS[1], 0, 199)
for _, e in ipairs(head) do
  if (tonumber(e) or 0) < id then return redis.call('LINSERT', KEYS[1], 'BEFORE', e, ARGV[1]) end
end
if #head < 200 then return redis.call('RPUSH', KEYS[1], ARGV[1]) end
return redis.call('LINSERT', KEYS[1], 'AFTER', head[#head], ARGV[1])
`)

// Version is an earlier text of an edited tweet, and when it was written.
type Version struct {
	Time time.Time
	Body string
}

// ErrEditTooLate refuses an edit after the window.
func ErrEditTooLate(window time.Duration) *Error {
	if window <= 0 {
		return refuse(Forbidden, "Tweets cannot be edited on this site.")
	}
	return refuse(Forbidden, "This tweet can no longer be edited: tweets can be edited for %s after they are posted.",
		Span(window))
}

// Span says a duration as people do: "30 days", "1 hour", "90 seconds".
func Span(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d%(24*time.Hour) == 0 && d > 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}

// EditTweet changes the text of the tweet with this id, written by the user
// whose secret it is, at most window after it was posted. The text is
// checked as a new tweet's; the users it mentions for the first time are
// told. It reports whether the text changed: the same text again is no
// edit, and leaves no version, but finishes an edit cut short.
// ErrNoSuchTweet, ErrNotYourTweet, a refusal of the text or of the time.
func (s *Store) EditTweet(ctx context.Context, secret, id, body string, window time.Duration) (changed bool, err error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return false, err
	}
	if !ValidTweetID(id) {
		return false, ErrNoSuchTweet
	}
	if window <= 0 {
		return false, ErrEditTooLate(window)
	}
	if body, err = NormalizeTweet(body); err != nil {
		return false, err
	}
	mentions, mentioned, err := s.findUsers(ctx, mentionsOf(body))
	if err != nil {
		return false, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	parentAuthor, err := s.parentAuthorName(ctx, id)
	if err != nil {
		return false, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	now := s.now()
	args := []any{v.ID, body, strings.Join(mentions, " "), now.Unix(), now.Add(-window).Unix()}
	if parentAuthor != "" {
		args = append(args, parentAuthor)
	}
	// Once the text is changed, its tags, index and notices follow
	// whatever the caller does; a failure of Redis on the way is finished
	// by saving the same text again.
	if ctx, err = begin(ctx); err != nil {
		return false, err
	}
	res, err := editScript.Run(ctx, s.rdb, []string{tweetKey(id), versionsKey(id), mentionedKey(id)}, args...).Slice()
	if err != nil {
		return false, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	var old string
	var firstMentioned []any // names the edit mentions for the first time
	switch n, _ := res[0].(int64); n {
	case 0:
		// The same text again is no edit, but it finishes one that a
		// failure cut short after the text changed (still marked editing),
		// as a user saving again after the error does: the steps below
		// follow the text from the version before it.
		var editing *redis.BoolCmd
		var prev *redis.StringCmd
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			editing, prev = p.HExists(ctx, tweetKey(id), fieldEditing), p.LIndex(ctx, versionsKey(id), 0)
		}); err != nil {
			return false, fmt.Errorf("edit tweet %s: %w", id, err)
		}
		if !editing.Val() || errors.Is(prev.Err(), redis.Nil) {
			return false, nil
		}
		_, old, _ = strings.Cut(prev.Val(), " ")
	case -1:
		return false, ErrNoSuchTweet
	case -2:
		return false, ErrNotYourTweet
	case -3:
		return false, ErrEditTooLate(window)
	default:
		old, changed, firstMentioned = str(res[1]), true, res[2:]
	}
	if err := s.newGeneration(ctx); err != nil {
		return changed, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	if err := s.retag(ctx, id, tagsOf(old), tagsOf(body)); err != nil {
		return changed, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	before, after := wordsOf(old), wordsOf(body)
	if err := s.reindexWords(ctx, id, without(before, after), without(after, before)); err != nil {
		return changed, fmt.Errorf("edit tweet %s: reindex its words: %w", id, err)
	}
	var told []string
	for _, name := range firstMentioned {
		if i := slices.Index(mentions, str(name)); i >= 0 {
			told = append(told, mentioned[i])
		}
	}
	s.notify(ctx, NotifyMention, v.ID, id, told...)
	// A deletion of the tweet or of its author's account that began since
	// the edit read the tweet before these tags, words and notices were
	// written: they are taken back here. One that begins later finds them.
	// Another edit saved since this one, whose lists this one's may have
	// undone: the lists follow the text now there (the last edit to read
	// it sees the last text).
	var tweetGone, authorGone *redis.BoolCmd
	var current *redis.StringCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		tweetGone, authorGone = p.HExists(ctx, tweetKey(id), fieldDeleted), p.HExists(ctx, userKey(v.ID), fieldDeleted)
		current = p.HGet(ctx, tweetKey(id), fieldTweetBody)
	}); err != nil {
		return changed, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	if latest := current.Val(); latest != body && !tweetGone.Val() && !authorGone.Val() {
		if err := s.retag(ctx, id, without(slices.Concat(tagsOf(old), tagsOf(body)), tagsOf(latest)), tagsOf(latest)); err != nil {
			return changed, fmt.Errorf("edit tweet %s: %w", id, err)
		}
		if err := s.reindexWords(ctx, id, without(slices.Concat(before, after), wordsOf(latest)), wordsOf(latest)); err != nil {
			return changed, fmt.Errorf("edit tweet %s: reindex its words: %w", id, err)
		}
	}
	if tweetGone.Val() || authorGone.Val() {
		notices := make([]notice, len(told))
		for i, u := range told {
			notices[i] = notice{u, NotifyMention, v.ID, id}
		}
		s.unnotify(ctx, notices...)
		if err := s.retag(ctx, id, tagsOf(body), nil); err != nil {
			return changed, fmt.Errorf("edit tweet %s: %w", id, err)
		}
		if err := s.reindexWords(ctx, id, after, nil); err != nil {
			return changed, fmt.Errorf("edit tweet %s: reindex its words: %w", id, err)
		}
	}
	if err := s.rdb.HDel(ctx, tweetKey(id), fieldEditing).Err(); err != nil {
		return changed, fmt.Errorf("edit tweet %s: %w", id, err)
	}
	return changed, nil
}

// parentAuthorName is the name of the author of the tweet this one
// answers: "" for none.
func (s *Store) parentAuthorName(ctx context.Context, id string) (string, error) {
	parent, err := s.rdb.HGet(ctx, tweetKey(id), fieldReplyTo).Result()
	if err == redis.Nil || err == nil && parent == "" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	uid, err := s.rdb.HGet(ctx, tweetKey(parent), fieldTweetUserID).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name, err := s.rdb.HGet(ctx, userKey(uid), fieldUsername).Result()
	if err == redis.Nil {
		return "", nil
	}
	return name, err
}

// retag takes the tweet off the lists of the tags it lost and puts it on
// those of the tags it gained, in its place by id.
func (s *Store) retag(ctx context.Context, id string, before, after []string) error {
	return s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, t := range without(before, after) {
			p.LRem(ctx, tagKey(t), 1, id)
		}
		for _, t := range without(after, before) {
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			insertByIDScript.Eval(ctx, p, []string{tagKey(t)}, id)
		}
	})
}

// without is what of a is not in b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Versions returns the earlier texts of the tweet with this id, newest
// first (none for a tweet never edited).
func (s *Store) Versions(ctx context.Context, id string) ([]Version, error) {
	if !ValidTweetID(id) {
		return nil, nil
	}
	entries, err := s.rdb.LRange(ctx, versionsKey(id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the versions of tweet %s: %w", id, err)
	}
	out := make([]Version, 0, len(entries))
	for _, e := range entries {
		at, body, _ := strings.Cut(e, " ")
		unix, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, Version{Time: time.Unix(unix, 0), Body: body})
	}
	return out, nil
}
