// Package logs bounds what clients can make the log say: every string value
// is cut to MaxValue bytes, and the lines about one client (those with a
// "client" attribute) are limited to a steady rate with a burst, the rest
// counted and reported on that client's next line. A flood of bad requests
// then costs the log a bounded number of short lines a second per client.
package logs

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxValue bounds a string value in a log line, in bytes.
const MaxValue = 256

// Rate limits the lines about one client: PerSecond on average, Burst at
// once.
type Rate struct {
	PerSecond float64
	Burst     int
}

// DefaultRate lets a person's browsing be logged whole: a page and its few
// requests, many times a minute.
func DefaultRate() Rate { return Rate{PerSecond: 10, Burst: 50} }

// maxClients bounds the clients whose rate is tracked; past it, the
// tracking starts over, which at worst lets each client one more burst.
const maxClients = 10_000

// Handler is an slog.Handler that cuts long values and limits the lines
// about each client before passing them to the next handler.
type Handler struct {
	next slog.Handler
	*clients
}

type clients struct {
	rate Rate
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]*bucket
}

// bucket is a token bucket, and the lines it dropped since it last let one
// through.
type bucket struct {
	tokens  float64
	at      time.Time
	dropped int
}

// New returns a Handler in front of next. now is the clock (time.Now if
// nil).
func New(next slog.Handler, rate Rate, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{next: next, clients: &clients{rate: rate, now: now, seen: map[string]*bucket{}}}
}

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i := range attrs {
		attrs[i] = cut(attrs[i])
	}
	return &Handler{next: h.next.WithAttrs(attrs), clients: h.clients}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), clients: h.clients}
}

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, cutString(r.Message), r.PC)
	client := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "client" {
			client = a.Value.String()
		}
		out.AddAttrs(cut(a))
		return true
	})
	if client != "" {
		ok, dropped := h.allow(client)
		if !ok {
			return nil
		}
		if dropped > 0 {
			out.AddAttrs(slog.Int("log_lines_dropped", dropped))
		}
	}
	return h.next.Handle(ctx, out)
}

// allow takes a token from client's bucket, and reports how many lines it
// dropped before this one.
func (c *clients) allow(client string) (ok bool, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	b := c.seen[client]
	if b == nil {
		if len(c.seen) >= maxClients {
			clear(c.seen)
		}
		b = &bucket{tokens: float64(c.rate.Burst), at: now}
		c.seen[client] = b
	}
	b.tokens = min(float64(c.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*c.rate.PerSecond)
	b.at = now
	if b.tokens < 1 {
		b.dropped++
		return false, 0
	}
	b.tokens--
	dropped, b.dropped = b.dropped, 0
	return true, dropped
}

// cut shortens a string value, or the string values in a group.
func cut(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) > MaxValue {
			return slog.String(a.Key, cutString(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && len(err.Error()) > MaxValue {
			return slog.String(a.Key, cutString(err.Error()))
		}
	case slog.KindGroup:
		attrs := a.Value.Group()
		out := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			out[i] = cut(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return a
}

// cutString keeps the first MaxValue bytes of s, on a character boundary,
// and says how long s was.
func cutString(s string) string {
	if len(s) <= MaxValue {
		return s
	}
	n := MaxValue
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
