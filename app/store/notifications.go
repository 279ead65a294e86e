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

// Notifications tell users what others did that concerns them: a mention, a
// reply to their tweet, a new follower, a like, a repost. They are written after what
// they tell of, as single-key commands (the list, its trim, the unread
// count), so a failure costs at most a notification or a count, never data.

// The kinds of notification.
const (
	NotifyMention = "mention"
	NotifyReply   = "reply"
	NotifyFollow  = "follow"
	NotifyLike    = "like"
	NotifyRepost  = "repost"
)

// NotificationsCap is how many notifications a user keeps.
const NotificationsCap = 500

// Notification is one thing that concerns the user.
type Notification struct {
	Kind  string
	Actor string // who did it: a username, "" if the account is gone
	Time  time.Time
	Tweet *Tweet // the tweet it is about (nil for a follow)
}

// notify tells each of the users (ids; the actor and repeats skipped) of
// what actor did, about tweet ("-" for none), unless a user was told of it
// already (noticeScript), then counts it unread.
//
// The deletion of an account marks it, then reads whom it told and takes
// those notices back, and at its end removes its own notifications: a
// notice by it, or to it, written after that would stay. So the marks of
// the actor and of the users told are read after the notices are written
// (in the round trip after them: a Cluster's pipelines have no order
// across nodes). If a user's is set, that user's notifications go; if the
// actor's, the notices are taken back. The same for the tweet's: its
// deletion marks it, then takes back the notices its likes, reposts and
// mentions gave, and a like's notice may come after.
func (s *Store) notify(ctx context.Context, kind, actor, tweet string, users ...string) {
	entry := strings.Join([]string{kind, actor, tweet, strconv.FormatInt(s.now().Unix(), 10)}, " ")
	done := map[string]bool{actor: true}
	var told []string
	var unread []*redis.Cmd
	for _, u := range users {
		if u != "" && !done[u] {
			done[u] = true
			told = append(told, u)
		}
	}
	if len(told) == 0 {
		return
	}
	pushed := make([]*redis.Cmd, len(told))
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, u := range told {
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			pushed[i] = noticeScript.Eval(ctx, p, []string{notificationsKey(u)}, entry, NotificationsCap, noticeLook)
		}
	})
	if err != nil {
		// What it tells of is done; the notification is lost.
		s.log.Warn("could not notify", "kind", kind, "err", err)
		return
	}
	var fresh []string
	for i, u := range told {
		if n, _ := pushed[i].Int(); n == 1 {
			fresh = append(fresh, u)
		}
	}
	if told = fresh; len(told) == 0 {
		return // each was told already
	}
	gone := make([]*redis.BoolCmd, len(told)+1) // the actor's mark, then the users'
	var tweetGone *redis.BoolCmd                // and the tweet's
	err = s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, u := range told {
			unread = append(unread, countScript.Eval(ctx, p, []string{unreadKey(u)}, NotificationsCap))
		}
		for i, u := range append([]string{actor}, told...) {
			gone[i] = p.HExists(ctx, userKey(u), fieldDeleted)
		}
		if tweet != "-" {
			tweetGone = p.HExists(ctx, tweetKey(tweet), fieldDeleted)
		}
	})
	if err != nil {
		s.log.Warn("could not notify", "kind", kind, "err", err)
		return
	}
	var leaving []string
	var notices []notice
	var events []*live.Event
	for i, u := range told {
		switch {
		case gone[i+1].Val():
			leaving = append(leaving, u)
		case gone[0].Val() || tweetGone != nil && tweetGone.Val():
			notices = append(notices, notice{u, kind, actor, tweet})
		default:
			n, _ := unread[i].Int64()
			events = append(events, &live.Event{Kind: live.KindUnread, Users: []string{u}, Unread: n})
		}
	}
	if len(leaving) > 0 {
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			for _, u := range leaving {
				p.Del(ctx, notificationsKey(u))
				p.Del(ctx, unreadKey(u))
			}
		}); err != nil {
			s.log.Warn("could not remove the notifications of a deleted account", "err", err)
		}
	}
	if len(notices) > 0 {
		s.unnotify(ctx, notices...)
	}
	if len(events) > 0 {
		s.events.Publish(ctx, events...)
	}
}

// noticeLook is how many of a user's newest notifications a notice looks
// among for one of its own kind, by its actor, about its tweet.
const noticeLook = 50

// noticeScript: KEYS a user's notifications; ARGV the entry ("kind actor
// tweet time"), the notifications kept, how many of the newest to look
// among. Pushes the entry unless one of the same kind, by the same actor,
// about the same tweet is among them (a like told twice: a like and an
// unlike at once each telling it as it stands), and trims the list.
// Returns 1 when it pushed.
var noticeScript = script(`
local kind, actor, tweet = string.match(ARGV[1], '^(%S+) (%S+) (%S+) ')
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do
  local k, a, t = string.match(e, '^(%S+) (%S+) (%S+) ')
  if k == kind and a == actor and t == tweet then return 0 end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`)

// countScript: KEYS a user's unread count; ARGV the notifications kept
// (NotificationsCap). Counts one more, up to that: the unread ones are the
// newest of the list, and no more are kept to be read. Returns the count.
var countScript = script(`
local n, most = redis.call('INCR', KEYS[1]), tonumber(ARGV[1])
if n <= most then return n end
redis.call('SET', KEYS[1], most)
return most
`)

// unnotifyScript: KEYS a user's notifications; ARGV kind, actor, tweet,
// each "" for any. Removes the entries of that kind, by that actor, about
// that tweet, and returns how many are left, then the places (0 the
// newest) the removed ones had. LREM of each, not LSET: Redis takes a
// removal even when full (WritesRefused), so that an undo it took (an
// unfollow) takes its notice back too.
var unnotifyScript = script(`
local places, gone = {}, {}
for i, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local kind, actor, tweet = string.match(e, '^(%S+) (%S+) (%S+) ')
  if (ARGV[1] == '' or kind == ARGV[1]) and (ARGV[2] == '' or actor == ARGV[2]) and
     (ARGV[3] == '' or tweet == ARGV[3]) then
    table.insert(places, i - 1)
    table.insert(gone, e)
  end
end
for _, e in ipairs(gone) do redis.call('LREM', KEYS[1], 1, e) end
return {redis.call('LLEN', KEYS[1]), unpack(places)}
`)

// uncountScript: KEYS a user's unread count; ARGV how many notifications
// are left, then the places of removed ones. The newest notifications are
// the unread ones, so each place below the count takes one off it. When
// Redis is full (WritesRefused) it refuses the decrement, and the count
// stays, or goes (DEL, which it takes) if it would count more than are
// left. Returns the count.
var uncountScript = script(`
local unread = tonumber(redis.call('GET', KEYS[1]) or '0')
local off = 0
for i = 2, #ARGV do
  if tonumber(ARGV[i]) < unread then off = off + 1 end
end
if off == 0 then return unread end
if off >= unread then redis.call('DEL', KEYS[1]) return 0 end
local left = redis.pcall('DECRBY', KEYS[1], off)
if type(left) == 'number' then return left end
if unread <= tonumber(ARGV[1]) then return unread end
redis.call('DEL', KEYS[1])
return 0
`)

// notice names notifications to take back: user's of that kind, by that
// actor, about that tweet ("-" for none; kind or actor "" for any).
type notice struct{ user, kind, actor, tweet string }

// unnotify takes back notices when what they tell of is undone: an unlike,
// an unfollow, a deleted tweet. Doing and undoing again and again then
// tells the user once, and the unread count counts only what the page
// shows: the entries go, and those still unread come off the count. Each
// step is a single-key script, all users' in one pipeline, and a failure
// costs a stale notification or count, as notify's.
func (s *Store) unnotify(ctx context.Context, notices ...notice) {
	var asked []notice
	var found []*redis.Cmd
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, n := range notices {
			if n.user == "" || n.user == n.actor {
				continue
			}
			asked = append(asked, n)
			// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
			found = append(found, unnotifyScript.Eval(ctx, p, []string{notificationsKey(n.user)}, n.kind, n.actor, n.tweet))
		}
	})
	var users []string
	var counts []*redis.Cmd
	if err == nil {
		err = s.pipelined(ctx, func(p redis.Pipeliner) {
			for i, f := range found {
				left, _ := f.Slice() // how many are left, then the places
				if len(left) > 1 {
					users = append(users, asked[i].user)
					counts = append(counts, uncountScript.Eval(ctx, p, []string{unreadKey(asked[i].user)}, left...))
				}
			}
		})
	}
	if err != nil {
		s.log.Warn("could not take back notifications", "err", err)
		return
	}
	var events []*live.Event
	for i, c := range counts {
		unread, _ := c.Int64()
		events = append(events, &live.Event{Kind: live.KindUnread, Users: []string{users[i]}, Unread: unread})
	}
	if len(events) > 0 {
		s.events.Publish(ctx, events...)
	}
}

// Notifications returns a page of the signed-in user's notifications,
// newest first, whether older ones exist, and the viewer; reading them
// clears the unread count.
func (s *Store) Notifications(ctx context.Context, secret string, offset, n int) (*Viewer, []Notification, bool, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return nil, nil, false, err
	}
	start, stop := listRange(offset, n)
	var entries *redis.StringSliceCmd
	var gen *redis.StringCmd
	var cleared *redis.IntCmd
	_ = failed(s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		gen = p.Get(ctx, keyGeneration)
		entries = p.LRange(ctx, notificationsKey(v.ID), int64(start), int64(stop))
		cleared = p.Del(ctx, unreadKey(v.ID))
		return nil
	})) // each command's error is read below
	// The page is read even when Redis refuses writes (WritesRefused): the
	// count then stays until a later read.
	for _, err := range []error{gen.Err(), entries.Err(), cleared.Err()} {
		if err != nil && !errors.Is(err, redis.Nil) && !WritesRefused(err) {
			return v, nil, false, fmt.Errorf("read notifications: %w", err)
		}
	}
	if v.Unread != 0 && cleared.Err() == nil {
		// The user's other pages clear their count too.
		s.events.Publish(ctx, &live.Event{Kind: live.KindUnread, Users: []string{v.ID}})
	}
	v.Unread = 0
	list := entries.Val()
	more := n >= 0 && len(list) > n
	if more {
		list = list[:n]
	}
	var actors, tweetIDs []string
	var out []Notification
	for _, e := range list {
		f := strings.Fields(e)
		if len(f) != 4 {
			continue
		}
		unix, _ := strconv.ParseInt(f[3], 10, 64)
		out = append(out, Notification{Kind: f[0], Time: time.Unix(unix, 0)})
		actors = append(actors, f[1])
		tweetIDs = append(tweetIDs, f[2])
	}
	names := make([]*redis.SliceCmd, len(actors))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, a := range actors {
			names[i] = p.HMGet(ctx, userKey(a), fieldUsername, fieldDeleted)
		}
	}); err != nil {
		return v, nil, false, fmt.Errorf("read notifications: %w", err)
	}
	var wanted []string
	for _, id := range tweetIDs {
		if id != "-" {
			wanted = append(wanted, id)
		}
	}
	page, err := s.resolve(ctx, gen.Val(), wanted, -1, nil)
	if err != nil {
		return v, nil, false, err
	}
	tweets := map[string]*Tweet{}
	for i := range page.Tweets {
		tweets[page.Tweets[i].ID] = &page.Tweets[i]
	}
	shown := out[:0]
	for i, n := range out {
		if actor := names[i].Val(); len(actor) == 2 && actor[1] == nil { // "" for an account deleted
			n.Actor = str(actor[0])
		}
		n.Tweet = tweets[tweetIDs[i]]
		if n.Tweet == nil && tweetIDs[i] != "-" {
			continue // about a tweet deleted since
		}
		shown = append(shown, n)
	}
	return v, shown, more, nil
}
