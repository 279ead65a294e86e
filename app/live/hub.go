package live

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream is a list or count a page shows live: Kind is "home" (the viewer's
// timeline), "public" (the general timeline), "user", "tag" or "tweet"
// (with Arg the username, the folded tag or the tweet id), or
// "notifications" (the viewer's unread count). For "user", UserID is the
// user's id, which posts carry; the caller looks it up.
type Stream struct{ Kind, Arg, UserID string }

func (s Stream) String() string {
	if s.Arg == "" {
		return s.Kind
	}
	return s.Kind + ":" + s.Arg
}

// ParseStream reads "kind" or "kind:arg". It checks the kind and that an
// argument is there when the kind needs one; the caller checks the
// argument's form.
func ParseStream(v string) (Stream, bool) {
	kind, arg, _ := strings.Cut(v, ":")
	switch kind {
	case "home", "public", "notifications":
		return Stream{Kind: kind}, arg == ""
	case "user", "tag", "tweet":
		return Stream{Kind: kind, Arg: arg}, arg != ""
	}
	return Stream{}, false
}

// Limits bound the streams one client address and one user hold open at
// once; zero is no limit.
type Limits struct{ PerClient, PerUser int }

// Errors of Subscribe.
var (
	ErrTooManyForClient = errors.New("too many live streams from this address")
	ErrTooManyForUser   = errors.New("too many live streams for this account")
	ErrClosed           = errors.New("the server is shutting down")
)

const (
	// queued is how many events a stream may have waiting to be written
	// before it is ended as too slow (its page reconnects and catches up).
	queued = 64
	// maxWatched bounds the tweets whose counts one stream follows.
	maxWatched = 500
	// MaxMissed is the most events read for a page that reconnects; one
	// that missed more is told to reload.
	MaxMissed = 1000
)

// Sub is one open stream: a page's connection.
type Sub struct {
	viewer  string // user id; "" for nobody
	session string // SessionTag of the viewer's secret
	client  string
	streams []Stream
	c       chan *Event
	done    chan struct{}
	why     string // why the hub ended it; set before done is closed
	watched map[string]bool
}

// Events are the events for the stream, in order.
func (s *Sub) Events() <-chan *Event { return s.c }

// Done is closed when the hub ends the stream; Reason then says why.
func (s *Sub) Done() <-chan struct{} { return s.done }

// Reason says why the hub ended the stream.
func (s *Sub) Reason() string { return s.why }

// Hub hands the events of the Redis stream to this instance's open streams.
type Hub struct {
	rdb    redis.UniversalClient
	log    *slog.Logger
	limits Limits

	mu        sync.Mutex
	subs      map[*Sub]struct{}
	perClient map[string]int
	perUser   map[string]int
	last      string // id of the newest event read; "" before the first read
	closed    bool
}

// NewHub returns a hub on rdb; Run must run for it to deliver anything.
func NewHub(rdb redis.UniversalClient, log *slog.Logger, limits Limits) *Hub {
	return &Hub{rdb: rdb, log: log, limits: limits, subs: map[*Sub]struct{}{},
		perClient: map[string]int{}, perUser: map[string]int{}}
}

// Subscribe opens a stream of streams for a page, from client (its
// address) for viewer (a user id, "" for nobody) whose session's secret
// has the tag session, that also follows the counts of the tweets watched.
func (h *Hub) Subscribe(client, viewer, session string, streams []Stream, watched []string) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.limits.PerClient > 0 && h.perClient[client] >= h.limits.PerClient:
		return nil, ErrTooManyForClient
	case viewer != "" && h.limits.PerUser > 0 && h.perUser[viewer] >= h.limits.PerUser:
		return nil, ErrTooManyForUser
	}
	s := &Sub{viewer: viewer, session: session, client: client, streams: streams,
		c: make(chan *Event, queued), done: make(chan struct{}), watched: map[string]bool{}}
	for _, id := range watched {
		s.watch(id)
	}
	h.subs[s] = struct{}{}
	h.perClient[client]++
	if viewer != "" {
		h.perUser[viewer]++
	}
	return s, nil
}

// Unsubscribe forgets s; its page's request is over.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if h.perClient[s.client]--; h.perClient[s.client] <= 0 {
		delete(h.perClient, s.client)
	}
	if s.viewer != "" {
		if h.perUser[s.viewer]--; h.perUser[s.viewer] <= 0 {
			delete(h.perUser, s.viewer)
		}
	}
}

// Open is how many streams are open.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Last is the id of the newest event this instance has read ("" before
// the first): a page rendered now has seen everything up to it.
func (h *Hub) Last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Close ends every stream (their pages reconnect, to another instance or
// to the next process) and refuses new ones: for a shutdown, which would
// otherwise wait for streams that never end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.end(s, "shutdown")
	}
}

// end ends s, once; h.mu is held.
func (h *Hub) end(s *Sub, why string) {
	select {
	case <-s.done:
	default:
		s.why = why
		close(s.done)
	}
}

// Run reads the Redis stream until ctx ends, handing each event to the
// streams that want it. While Redis does not answer it tries again every
// second; events added meanwhile are read then, from where it stopped.
func (h *Hub) Run(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		if last == "" {
			// Start after the newest event: what came before is for pages
			// that reconnect (Missed).
			var err error
			if last, err = h.newest(ctx); err != nil {
				h.wait(ctx, err)
				continue
			}
			h.mu.Lock()
			h.last = last
			h.mu.Unlock()
		}
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{Key, last}, Count: 500, Block: 5 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			h.wait(ctx, err)
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				last = m.ID
				h.deliver(Parse(m))
			}
		}
	}
}

// newest is the id of the stream's newest entry, "0-0" if it has none.
func (h *Hub) newest(ctx context.Context) (string, error) {
	msgs, err := h.rdb.XRevRangeN(ctx, Key, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

func (h *Hub) wait(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	h.log.Warn("live events: cannot read from Redis; trying again", "err", err)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// deliver hands e to every stream that wants it. A stream whose page does
// not keep up is ended: its page reconnects and gets what it missed.
func (h *Hub) deliver(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = e.ID
	for s := range h.subs {
		if e.Kind == KindEnd {
			if s.session != "" && s.session == e.Session {
				h.end(s, "session ended")
			}
			continue
		}
		if !s.wants(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			h.end(s, "behind")
		}
	}
}

// wants reports whether the stream shows e, and starts following the
// counts of a tweet it is given; the hub's lock is held.
func (s *Sub) wants(e *Event) bool {
	switch e.Kind {
	case KindCounts, KindGone:
		return s.watched[e.Tweet]
	case KindUnread:
		return s.viewer != "" && len(e.Users) == 1 && e.Users[0] == s.viewer && slices.Contains(s.streams, Stream{Kind: "notifications"})
	}
	if s.Show(e) == (Stream{}) {
		return false
	}
	s.watch(e.Tweet)
	return true
}

func (s *Sub) watch(id string) {
	if len(s.watched) < maxWatched {
		s.watched[id] = true
	}
}

// Show is the list of the stream that shows a post or home event (the
// zero Stream if none does).
func (s *Sub) Show(e *Event) Stream {
	for _, st := range s.streams {
		switch {
		case e.Kind == KindHome && st.Kind == "home" && s.viewer != "" && e.For(s.viewer),
			e.Kind == KindPost && st.Kind == "public",
			e.Kind == KindPost && st.Kind == "user" && st.UserID == e.AuthorID && e.AuthorID != "",
			e.Kind == KindPost && st.Kind == "tweet" && st.Arg == e.Parent && e.Parent != "",
			e.Kind == KindPost && st.Kind == "tag" && slices.Contains(e.Tags, st.Arg):
			return st
		}
	}
	return Stream{}
}

// Missed returns the events for s after the event with id since, oldest
// first. complete is false when they cannot all be had: since is older than
// the stream keeps, or more than MaxMissed came after it; the page should
// then reload rather than show part of what it missed.
func (h *Hub) Missed(ctx context.Context, s *Sub, since string) (events []*Event, complete bool, err error) {
	msgs, err := h.rdb.XRangeN(ctx, Key, since, "+", MaxMissed+2).Result() // since, MaxMissed, and one too many
	if err != nil {
		return nil, false, err
	}
	// since is the first of them, unless the stream was empty when the
	// page was made (0-0): then all of it came after.
	if since != "0-0" {
		if len(msgs) == 0 || msgs[0].ID != since {
			// The stream no longer has the last event the page saw (or
			// the database was wiped): what came between is unknown.
			return nil, false, nil
		}
		msgs = msgs[1:]
	}
	if len(msgs) > MaxMissed {
		return nil, false, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		if e := Parse(m); s.wants(e) {
			events = append(events, e)
		}
	}
	return events, true, nil
}

// parseID splits a stream entry's id, "<ms>-<seq>", into its numbers; ok
// is false when id does not have that form.
func parseID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, found && err1 == nil && err2 == nil
}

// ValidID reports whether id has the form of a stream entry's id.
func ValidID(id string) bool {
	_, _, ok := parseID(id)
	return ok
}

// Time is when the event with this id was appended (the Redis server's
// clock, to the millisecond).
func Time(id string) time.Time {
	ms, _, _ := parseID(id)
	return time.UnixMilli(int64(ms))
}

// After reports whether stream id a comes after b (both valid).
func After(a, b string) bool {
	am, as, _ := parseID(a)
	bm, bs, _ := parseID(b)
	if am != bm {
		return am > bm
	}
	return as > bs
}
