// Package live carries what happens on the site to the pages open on it.
//
// Every change a page may show (a new tweet on a list, counts, the unread
// notification count, the end of a session) is an Event, appended to one
// Redis stream (Key) by the instance where it happened. Every instance reads
// that stream with one blocking reader (Hub.Run) and hands each event to
// its own open streams (Sub) that want it. The stream's entry ids are the
// events' ids: a page that reconnects with the last id it saw reads what it
// missed from the same Redis stream (Hub.Missed), within the newest Keep
// events. One Redis connection per instance, none per page, and no
// goroutine per page but its stream's own (app/web).
package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Key is the Redis stream of events. pytwis never reads it.
const Key = "pytwask:events"

// Keep is about how many events the stream keeps (XADD MAXLEN ~): the
// window within which a reconnecting page gets what it missed. At ten posts
// a second that is many minutes.
const Keep = 10_000

// Kinds of event.
const (
	// KindPost: a new tweet (Tweet, by AuthorID, with Tags, replying to
	// Parent): for the general timeline, the author's page, its tags' pages
	// and its parent's page.
	KindPost = "post"
	// KindHome: Tweet is now on the timelines of Users (a step of its
	// fan-out), put there by a repost of Via's if Via is set.
	KindHome = "home"
	// KindCounts: Tweet's reply, repost and like counts are now Counts.
	KindCounts = "counts"
	// KindUnread: user Users[0] has Unread unread notifications.
	KindUnread = "unread"
	// KindEnd: the session whose secret has the tag Session ended (sign-out,
	// password change, account deleted): its streams end.
	KindEnd = "end"
	// KindGone: Tweet was deleted.
	KindGone = "gone"
)

// Event is one thing that happened. Which fields are set depends on Kind.
type Event struct {
	ID       string // the Redis stream entry's id; set when read
	Kind     string
	Tweet    string
	AuthorID string
	Tags     []string
	Parent   string
	Users    []string
	Via      string
	Counts   [3]int64 // replies, reposts, likes
	Unread   int64
	Session  string

	once  sync.Once
	users map[string]bool

	mu   sync.Mutex
	memo map[string]memo
}

type memo struct {
	v   any
	err error
}

// For reports whether the event concerns user id (a KindHome's Users).
func (e *Event) For(id string) bool {
	e.once.Do(func() {
		e.users = make(map[string]bool, len(e.Users))
		for _, u := range e.Users {
			e.users[u] = true
		}
	})
	return e.users[id]
}

// Memo returns what make returns for key the first time it is asked for:
// every page of this instance that shows the event the same way shares one
// read of its tweet and one rendering of it.
func (e *Event) Memo(key string, make func() (any, error)) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.memo[key]; ok {
		return m.v, m.err
	}
	v, err := make()
	if e.memo == nil {
		e.memo = map[string]memo{}
	}
	e.memo[key] = memo{v, err}
	return v, err
}

// SessionTag is what an event says of a session's secret: a hash, so that
// no secret is written to the stream.
func SessionTag(secret string) string {
	sum := sha256.Sum256([]byte("pytwask session " + secret))
	return hex.EncodeToString(sum[:16])
}

// values is the event as a stream entry's fields.
func (e *Event) values() []any {
	v := []any{"k", e.Kind}
	add := func(name, value string) {
		if value != "" {
			v = append(v, name, value)
		}
	}
	add("t", e.Tweet)
	add("a", e.AuthorID)
	add("g", strings.Join(e.Tags, " "))
	add("p", e.Parent)
	add("u", strings.Join(e.Users, " "))
	add("v", e.Via)
	add("s", e.Session)
	switch e.Kind {
	case KindCounts:
		add("c", fmt.Sprintf("%d %d %d", e.Counts[0], e.Counts[1], e.Counts[2]))
	case KindUnread:
		add("r", strconv.FormatInt(e.Unread, 10))
	}
	return v
}

// Parse reads a stream entry back into an event.
func Parse(m redis.XMessage) *Event {
	get := func(name string) string { s, _ := m.Values[name].(string); return s }
	e := &Event{ID: m.ID, Kind: get("k"), Tweet: get("t"), AuthorID: get("a"),
		Tags: strings.Fields(get("g")), Parent: get("p"), Users: strings.Fields(get("u")), Via: get("v"),
		Session: get("s")}
	if c := strings.Fields(get("c")); len(c) == 3 {
		for i := range c {
			e.Counts[i], _ = strconv.ParseInt(c[i], 10, 64)
		}
	}
	e.Unread, _ = strconv.ParseInt(get("r"), 10, 64)
	return e
}

// Publisher appends events to the stream.
type Publisher struct {
	rdb redis.Cmdable
	log *slog.Logger
}

// NewPublisher returns a Publisher on rdb that logs the events it could
// not append to log.
func NewPublisher(rdb redis.Cmdable, log *slog.Logger) *Publisher {
	return &Publisher{rdb: rdb, log: log}
}

// Publish appends events, in one round trip. What they tell of is done and
// in Redis already: events that cannot be appended are logged and dropped,
// and the pages that would have shown them show the change when reloaded.
func (p *Publisher) Publish(ctx context.Context, events ...*Event) {
	_, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, e := range events {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: Key, MaxLen: Keep, Approx: true, Values: e.values()})
		}
		return nil
	})
	if err != nil {
		p.log.Warn("could not publish live events", "kind", events[0].Kind, "err", err)
	}
}
