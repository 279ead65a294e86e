package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"pytwask/app/live"
	"pytwask/app/store"
)

// Live updates (package live): a page opens GET /events for the streams it
// shows, and live.js shows what arrives. Without JavaScript nothing changes:
// a page shows what existed when it was loaded.

const (
	// maxStreams bounds the stream parameters of one request, and
	// maxWatched the tweets whose counts it follows.
	maxStreams = 8
	maxWatched = 100
	// streamWriteWait bounds one write to a stream's client.
	streamWriteWait = 30 * time.Second
	// retryMin and retrySpread bound the delay, in milliseconds, after
	// which a browser reconnects a stream that ended: [retryMin,
	// retryMin+retrySpread), drawn for each stream.
	retryMin, retrySpread = 2000, 3000
)

// events: GET /events?stream=…[&stream=…][&watch=ids][&since=id] — the
// events of the streams a page shows, as server-sent events (text/event-stream),
// each with its id. A client that reconnects with Last-Event-ID (or a page
// that opens with since=, the last event before it was rendered) gets what
// it missed first, or a "reload" event when that is more than the window
// kept. home and notifications are the signed-in viewer's: without a
// session they are a 401. The stream ends when the viewer's session does,
// and on shutdown (clients reconnect, to this instance's successor).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if s.hub == nil {
		return errorf(http.StatusServiceUnavailable, "Live updates are not available on this server.")
	}
	q := r.URL.Query()
	streams, err := parseStreams(q["stream"])
	if err != nil {
		return err
	}
	watched, err := parseWatched(q.Get("watch"))
	if err != nil {
		return err
	}
	since := r.Header.Get("Last-Event-ID")
	if since == "" {
		since = q.Get("since")
	}
	if since != "" && !live.ValidID(since) {
		return errorf(http.StatusBadRequest, "Last-Event-ID is not the id of an event.")
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	var v *store.Viewer
	if secret != "" {
		if v, err = s.store.Authenticate(r.Context(), secret); err != nil && !errors.Is(err, store.ErrNotLoggedIn) {
			return err
		}
	}
	viewer, session := "", ""
	if v != nil {
		viewer, session = v.ID, live.SessionTag(secret)
	}
	for i, st := range streams {
		switch {
		case (st.Kind == "home" || st.Kind == "notifications") && v == nil:
			return errorf(http.StatusUnauthorized, "Sign in to follow your timeline and notifications.")
		case st.Kind == "user":
			if streams[i].UserID, err = s.store.UserID(r.Context(), st.Arg); err != nil {
				return err // a 404 page for nobody of that name
			}
		}
	}
	sub, err := s.hub.Subscribe(s.clientSubject(r), viewer, session, streams, watched)
	switch {
	case errors.Is(err, live.ErrTooManyForClient), errors.Is(err, live.ErrTooManyForUser):
		return errorf(http.StatusTooManyRequests, "Too many pages are following live updates; close some, or reload later.")
	case err != nil:
		return errorf(http.StatusServiceUnavailable, "The server is restarting; live updates resume in a moment.")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	if r.ProtoMajor == 1 {
		// The connection leaves net/http, which would keep its buffers and
		// the request's grown stack for as long as the page is open: the
		// stream is written by a goroutine of its own, from a small stack,
		// and ends with the connection.
		conn, err := s.takeConnection(w, r)
		if err != nil {
			s.hub.Unsubscribe(sub)
			return fmt.Errorf("events: %w", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer s.hub.Unsubscribe(sub)
			defer conn.Close()
			s.stream(ctx, &connWriter{conn: conn}, sub, v, since)
		}()
		go func() {
			// The client sends nothing more: a read returns when it closes
			// the connection (or when the stream's end closes it).
			var b [1]byte
			for {
				if _, err := conn.Read(b[:]); err != nil {
					cancel()
					return
				}
			}
		}()
		return nil
	}
	defer s.hub.Unsubscribe(sub)
	rc := http.NewResponseController(w)
	// The server's read timeout would end the request's context: a stream
	// reads nothing more after its request.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	w.WriteHeader(http.StatusOK)
	s.stream(r.Context(), &flushWriter{w: w, rc: rc}, sub, v, since)
	return nil
}

// stream writes a stream's events until the hub ends it, ctx ends, or a
// write fails (the client went away): first what it missed since the event
// with id since, if any.
func (s *Server) stream(ctx context.Context, out eventWriter, sub *live.Sub, v *store.Viewer, since string) {
	write := func(b []byte) bool { return out.write(b) == nil }
	// At once: the page knows it is connected. The browser reconnects a
	// stream that ends after retry milliseconds, chosen for each stream
	// so that the pages whose streams end together (the site catching up
	// after an outage, an instance stopping) do not all come back at once.
	if !write(fmt.Appendf(nil, ": live\n\nretry: %d\n\n", retryMin+rand.N(retrySpread))) {
		return
	}
	last := since
	if since != "" {
		missed, complete, err := s.hub.Missed(ctx, sub, since)
		if err != nil || !complete {
			if !write([]byte("event: reload\ndata: {}\n\n")) {
				return
			}
		}
		for _, e := range missed {
			if frame := s.frame(ctx, sub, v, e); frame != nil && !write(frame) {
				return
			}
			last = e.ID
		}
	}
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for {
		select {
		case e := <-sub.Events():
			if last != "" && !live.After(e.ID, last) {
				continue // sent already, among the missed ones
			}
			last = e.ID
			frame := s.frame(ctx, sub, v, e)
			if frame == nil {
				continue
			}
			if !write(frame) {
				return
			}
			s.metrics.Delivered(time.Since(live.Time(e.ID)))
		case <-beat.C:
			if !write([]byte(": \n\n")) {
				return
			}
		case <-sub.Done():
			s.log.Debug("live stream ended", "why", sub.Reason())
			return
		case <-ctx.Done():
			return
		}
	}
}

// takeConnection takes an HTTP/1 request's connection from net/http and
// writes the response's status line and headers (w's, and Connection:
// close: the stream's end is the connection's).
func (s *Server) takeConnection(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	// The server's read and write deadlines for the request stay with the
	// connection: a stream has none but each write's.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, err
	}
	h := w.Header().Clone()
	h.Set("Connection", "close")
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/%d.%d 200 OK\r\n", r.ProtoMajor, r.ProtoMinor)
	h.Write(&b)
	b.WriteString("\r\n")
	if err := (&connWriter{conn: conn}).write(b.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// parseStreams reads the stream parameters: 1 to maxStreams of them, each
// one a stream kind with, where it takes one, a well-formed argument.
func parseStreams(values []string) ([]live.Stream, error) {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, format, args...)
	}
	if len(values) == 0 || len(values) > maxStreams {
		return nil, bad("Ask for 1 to %d streams.", maxStreams)
	}
	var streams []live.Stream
	for _, v := range values {
		st, ok := live.ParseStream(v)
		switch {
		case !ok:
			return nil, bad("%q is not a stream. Streams are home, public, notifications, user:<name>, tag:<tag> and tweet:<id>.", v)
		case st.Kind == "user" && !store.ValidUsername(st.Arg),
			st.Kind == "tweet" && !store.ValidTweetID(st.Arg),
			st.Kind == "tag" && (!store.ValidTag(st.Arg) || store.FoldTag(st.Arg) != st.Arg):
			return nil, bad("%q is not a stream.", v)
		}
		streams = append(streams, st)
	}
	return streams, nil
}

// parseWatched reads the comma-separated tweet ids whose counts a page
// shows.
func parseWatched(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	ids := strings.Split(v, ",")
	if len(ids) > maxWatched {
		return nil, errorf(http.StatusBadRequest, "Watch at most %d tweets.", maxWatched)
	}
	for _, id := range ids {
		if !store.ValidTweetID(id) {
			return nil, errorf(http.StatusBadRequest, "watch is a list of tweet ids.")
		}
	}
	return ids, nil
}

// frame is e as the page shows it to viewer v, as a server-sent event: a
// tweet's markup for a list (event "post"), counts ("counts"), a tweet gone
// ("gone") or the unread count ("unread"); nil for nothing to send (a
// tweet deleted meanwhile, or Redis did not answer: shown on reload). Each
// frame is made once per event for all the streams of this instance that
// show it alike.
func (s *Server) frame(ctx context.Context, sub *live.Sub, v *store.Viewer, e *live.Event) []byte {
	var frame any
	var err error
	switch e.Kind {
	case live.KindPost, live.KindHome:
		st := sub.Show(e)
		t, kind, ok := s.liveTweet(ctx, e, v)
		if !ok {
			return nil
		}
		frame, err = e.Memo("frame "+st.String()+" "+kind, func() (any, error) {
			html, err := s.tweetList([]store.Tweet{t}, v)
			if err != nil {
				return nil, err
			}
			return sseFrame(e.ID, "post", struct {
				Stream string `json:"stream"`
				ID     string `json:"id"`
				HTML   string `json:"html"`
			}{st.String(), e.Tweet, string(html)})
		})
	case live.KindCounts:
		frame, err = e.Memo("frame", func() (any, error) {
			return sseFrame(e.ID, "counts", struct {
				ID      string `json:"id"`
				Replies int64  `json:"replies"`
				Reposts int64  `json:"reposts"`
				Likes   int64  `json:"likes"`
			}{e.Tweet, e.Counts[0], e.Counts[1], e.Counts[2]})
		})
	case live.KindGone:
		frame, err = e.Memo("frame", func() (any, error) {
			return sseFrame(e.ID, "gone", struct {
				ID string `json:"id"`
			}{e.Tweet})
		})
	case live.KindUnread:
		frame, err = e.Memo("frame", func() (any, error) {
			return sseFrame(e.ID, "unread", struct {
				Unread int64 `json:"unread"`
			}{e.Unread})
		})
	default:
		return nil
	}
	if err != nil {
		s.log.Error("make a live event", "kind", e.Kind, "tweet", e.Tweet, "err", err)
		return nil
	}
	return frame.([]byte)
}

// liveTweet is the event's tweet as a list shows it to v, read once for
// every page of this instance, and what kind of viewer v is for it: nobody,
// its author, or anyone else signed in; for a repost on a timeline, each
// viewer is their own kind (whether they like it is theirs).
func (s *Server) liveTweet(ctx context.Context, e *live.Event, v *store.Viewer) (t store.Tweet, kind string, ok bool) {
	viewer, read := "", "tweet"
	if e.Via != "" && v != nil {
		viewer, read = v.ID, "tweet "+v.ID
	} // else a new tweet: nobody has liked or reposted it yet
	got, err := e.Memo(read, func() (any, error) {
		// Not ended with this page: the read is for every page's.
		t, found, err := s.store.TweetFor(context.WithoutCancel(ctx), viewer, e.Tweet)
		if err != nil || !found {
			return nil, errors.Join(err, errors.New("not found"))
		}
		t.RepostedBy = e.Via
		return t, nil
	})
	if err != nil {
		return store.Tweet{}, "", false
	}
	t = got.(store.Tweet)
	switch {
	case v == nil:
		kind = "nobody"
	case e.Via != "":
		kind = "viewer " + v.ID
	case v.ID == t.UserID:
		kind = "author"
	default:
		kind = "signed in"
	}
	return t, kind, true
}

// sseFrame is an event named name with data as JSON: one line, as the
// markup in it has its newlines escaped.
func sseFrame(id, name string, data any) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 0, len(b)+len(id)+len(name)+24)
	if id != "" {
		frame = append(frame, "id: "+id+"\n"...)
	}
	frame = append(frame, "event: "+name+"\ndata: "...)
	frame = append(frame, b...)
	return append(frame, "\n\n"...), nil
}

// eventWriter writes to a stream, each write sent at once.
type eventWriter interface{ write([]byte) error }

// flushWriter writes to a response that net/http keeps (HTTP/2).
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (o *flushWriter) write(b []byte) error {
	if err := o.rc.SetWriteDeadline(time.Now().Add(streamWriteWait)); err != nil {
		return err
	}
	if _, err := o.w.Write(b); err != nil {
		return err
	}
	return o.rc.Flush()
}

// connWriter writes to a connection taken from net/http (HTTP/1).
type connWriter struct{ conn net.Conn }

func (o *connWriter) write(b []byte) error {
	if err := o.conn.SetWriteDeadline(time.Now().Add(streamWriteWait)); err != nil {
		return err
	}
	_, err := o.conn.Write(b)
	return err
}

// liveOnFirst is stream for the first page of a list, where new tweets
// appear, and nothing for the older pages.
func liveOnFirst(page int, stream string) string {
	if page != 1 {
		return ""
	}
	return stream
}
