package store

import (
	"context"
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
// what actor did, about tweet ("" for none), in one pipeline.
func (s *Store) notify(ctx context.Context, kind, actor, tweet string, users ...string) {
	entry := strings.Join([]string{kind, actor, tweet, strconv.FormatInt(s.now().Unix(), 10)}, " ")
	done := map[string]bool{actor: true}
	var told []string
	var unread []*redis.IntCmd
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, u := range users {
			if u == "" || done[u] {
				continue
			}
			done[u] = true
			p.LPush(ctx, notificationsKey(u), entry)
			p.LTrim(ctx, notificationsKey(u), 0, NotificationsCap-1)
			told = append(told, u)
			unread = append(unread, p.Incr(ctx, unreadKey(u)))
		}
	})
	if err != nil {
		// What it tells of is done; the notification is lost.
		s.log.Warn("could not notify", "kind", kind, "err", err)
		return
	}
	events := make([]*live.Event, len(told))
	for i, u := range told {
		events[i] = &live.Event{Kind: live.KindUnread, Users: []string{u}, Unread: unread[i].Val()}
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
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		gen = p.Get(ctx, keyGeneration)
		entries = p.LRange(ctx, notificationsKey(v.ID), int64(start), int64(stop))
		p.Set(ctx, unreadKey(v.ID), 0, 0)
	}); err != nil {
		return v, nil, false, fmt.Errorf("read notifications: %w", err)
	}
	if v.Unread != 0 {
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
