package web

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"pytwask/app/live"
)

// sseEvent is one server-sent event as a test reads it.
type sseEvent struct{ ID, Name, Data string }

// sseStream is an open GET /events.
type sseStream struct {
	t      testing.TB
	status int
	body   string // of a refusal
	events chan sseEvent
	cancel func()
}

// stream opens GET /events?query with the browser's cookies and header
// (Last-Event-ID, as a reconnecting EventSource sends it), and reads its
// events in the background until the test closes it or the server ends it.
func (b *browser) stream(query string, header ...string) *sseStream {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", b.site.srv.URL+"/events?"+query, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Jar: b.c.Jar, Transport: b.c.Transport} // no timeout: a stream lasts
	res, err := c.Do(req)
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	s := &sseStream{t: b.t, status: res.StatusCode, events: make(chan sseEvent, 100), cancel: cancel}
	b.t.Cleanup(s.close)
	if res.StatusCode != http.StatusOK {
		var sb strings.Builder
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			sb.WriteString(sc.Text() + "\n")
		}
		res.Body.Close()
		s.body = sb.String()
		close(s.events)
		return s
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		b.t.Errorf("Content-Type %q", ct)
	}
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.Name != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.Data = line[6:]
			}
		}
	}()
	return s
}

func (s *sseStream) close() { s.cancel() }

// settled waits until the site's hub has read every event published so
// far: a stream opened next starts after them, as a page made now does.
func (s *site) settled() {
	s.t.Helper()
	last, err := s.rdb.XRevRangeN(context.Background(), live.Key, "+", "-", 1).Result()
	if err != nil || len(last) == 0 {
		s.t.Fatalf("the newest event: %v %v", last, err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.hub.Last() != last[0].ID; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("the hub has not read event %s within 5 s", last[0].ID)
		}
	}
}

// next returns the next event, failing the test if none comes in time.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		s.t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

// none checks that no event comes for a while.
func (s *sseStream) none(within time.Duration) {
	s.t.Helper()
	select {
	case e, ok := <-s.events:
		if ok {
			s.t.Errorf("unexpected event %+v", e)
		}
	case <-time.After(within):
	}
}

// post is a "post" event's data.
type postData struct{ Stream, ID, HTML string }

func (e sseEvent) post(t testing.TB) postData {
	t.Helper()
	var d postData
	if e.Name != "post" || json.Unmarshal([]byte(e.Data), &d) != nil {
		t.Fatalf("want a post event, got %+v", e)
	}
	return d
}

// A post reaches, at once, the open pages that list it: the followers'
// timelines, the general timeline, the author's page, its tag's page, and
// the page of the tweet it replies to; not the timeline of someone who does
// not follow the author. The markup is the list's own, escaped.
func TestLiveTimelines(t *testing.T) {
	s := newSite(t)
	bs := s.signedIn("alice", "bob", "carol")
	alice, bob, carol := bs[0], bs[1], bs[2]
	bob.post("/tweets/follow/alice", nil)

	bobHome := bob.stream("stream=home&stream=notifications")
	carolHome := carol.stream("stream=home")
	public := s.browser().stream("stream=public")
	tag := s.browser().stream("stream=tag:golang")
	user := s.browser().stream("stream=user:alice")

	alice.post("/tweets/user_timeline", form("tweet", "hello @bob #GoLang <b>bold</b>")).wantRedirect(t, "/tweets/user_timeline")
	for _, c := range []struct {
		name   string
		s      *sseStream
		stream string
	}{{"bob's timeline", bobHome, "home"}, {"public", public, "public"}, {"tag", tag, "tag:golang"}, {"alice's page", user, "user:alice"}} {
		d := c.s.next().post(t)
		if d.Stream != c.stream || !strings.Contains(d.HTML, `<li class="tweet" id="tweet-`+d.ID+`">`) ||
			!strings.Contains(d.HTML, `href="/tags/golang"`) || !strings.Contains(d.HTML, "&lt;b&gt;bold&lt;/b&gt;") ||
			strings.Contains(d.HTML, "<b>") {
			t.Errorf("%s: %+v", c.name, d)
		}
		if signedIn := strings.Contains(d.HTML, `action="/tweets/like/`); signedIn != (c.s == bobHome) {
			t.Errorf("%s: like button shown %v", c.name, signedIn)
		}
	}
	// bob is mentioned: his count goes up on his open pages.
	if e := bobHome.next(); e.Name != "unread" || e.Data != `{"unread":1}` {
		t.Errorf("bob's notifications: %+v", e)
	}
	carolHome.none(300 * time.Millisecond)

	// A reply reaches the page of the tweet it answers, and its counts.
	id := s.rdb.LIndex(t.Context(), "timeline", 0).Val()
	conv := s.browser().stream("stream=tweet:" + id + "&watch=" + id)
	bob.post("/tweets/reply/"+id, form("tweet", "hi alice"))
	if d := conv.next().post(t); d.Stream != "tweet:"+id || !strings.Contains(d.HTML, "hi alice") {
		t.Errorf("conversation: %+v", d)
	}
	if e := conv.next(); e.Name != "counts" || e.Data != `{"id":"`+id+`","replies":1,"reposts":0,"likes":0}` {
		t.Errorf("counts: %+v", e)
	}
}

// A page that reconnects with the id of the last event it saw
// (Last-Event-ID, or since= for a page's first connection) gets what it
// missed, in order, and nothing twice; one that missed more than the
// stream keeps is told to reload.
func TestLiveMissedEvents(t *testing.T) {
	s := newSite(t)
	alice := s.signedIn("alice")[0]
	public := s.browser().stream("stream=public")
	alice.post("/tweets/user_timeline", form("tweet", "one"))
	seen := public.next()
	public.close()
	alice.post("/tweets/user_timeline", form("tweet", "two"))
	alice.post("/tweets/user_timeline", form("tweet", "three"))

	for _, how := range []struct {
		query  string
		header []string
	}{{"stream=public", []string{"Last-Event-ID", seen.ID}}, {"stream=public&since=" + seen.ID, nil}} {
		again := s.browser().stream(how.query, how.header...)
		two, three := again.next(), again.next()
		if !strings.Contains(two.post(t).HTML, "two") || !strings.Contains(three.post(t).HTML, "three") ||
			!live.After(two.ID, seen.ID) || !live.After(three.ID, two.ID) {
			t.Errorf("%s: after %s got %+v then %+v", how.query, seen.ID, two, three)
		}
		alice.post("/tweets/user_timeline", form("tweet", "live again"))
		if d := again.next().post(t); !strings.Contains(d.HTML, "live again") {
			t.Errorf("%s: then %+v", how.query, d)
		}
		again.close()
	}

	// An id older than the stream keeps: what came between is unknown.
	old := s.browser().stream("stream=public", "Last-Event-ID", "1-0")
	if e := old.next(); e.Name != "reload" {
		t.Errorf("from 1-0: %+v, want a reload event", e)
	}
}

// A stream ends with the session it was opened in: the user signs out on
// another device, which ends every session of theirs, or changes their
// password there; opening it again with the old session is refused.
func TestLiveStreamEndsWithTheSession(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(other *browser)
	}{
		{"sign-out", func(other *browser) { other.post("/auth/signout", nil) }},
		{"password change", func(other *browser) {
			other.post("/auth/user_settings", form("old_password", "Passw0rd!", "new_password", "N3w-Passw0rd", "new_password2", "N3w-Passw0rd"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t)
			bob := s.signedIn("bob")[0]
			other := s.browser()
			other.signIn("bob", "Passw0rd!", false)
			home := bob.stream("stream=home&stream=notifications")
			public := s.browser().stream("stream=public")
			c.end(other)
			select {
			case e, ok := <-home.events:
				if ok {
					t.Errorf("event %+v after the session ended", e)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the stream is still open 5 s after its session ended")
			}
			if again := bob.stream("stream=home"); again.status != http.StatusUnauthorized {
				t.Errorf("opened again: %d", again.status)
			}
			public.none(100 * time.Millisecond) // nobody else's stream ended
			select {
			case <-public.events:
				t.Error("an anonymous stream ended too")
			default:
			}
		})
	}
}

// Counts and deletions reach the pages that show the tweet.
func TestLiveCountsAndDeletions(t *testing.T) {
	s := newSite(t)
	bs := s.signedIn("alice", "bob")
	alice, bob := bs[0], bs[1]
	alice.post("/tweets/user_timeline", form("tweet", "like me"))
	id := s.rdb.LIndex(t.Context(), "timeline", 0).Val()
	s.settled() // the post's own event is before the page
	page := s.browser().stream("stream=public&watch=" + id)
	bob.post("/tweets/like/"+id, nil)
	if e := page.next(); e.Name != "counts" || e.Data != `{"id":"`+id+`","replies":0,"reposts":0,"likes":1}` {
		t.Errorf("after a like: %+v", e)
	}
	alice.post("/tweets/delete/"+id, nil)
	if e := page.next(); e.Name != "gone" || e.Data != `{"id":"`+id+`"}` {
		t.Errorf("after the deletion: %+v", e)
	}
}

// Bad requests for a stream get a clear 4xx and open nothing.
func TestLiveBadRequests(t *testing.T) {
	s := newSite(t)
	anon := s.browser()
	for _, c := range []struct {
		query, lastID string
		status        int
		text          string
	}{
		{"", "", 400, "Ask for 1 to 8 streams"},
		{"stream=nope", "", 400, "is not a stream"},
		{"stream=user:1", "", 400, "is not a stream"},
		{"stream=user:nobody", "", 404, "username nobody doesn&#39;t exist"},
		{"stream=tweet:1x", "", 400, "is not a stream"},
		{"stream=tag:GoLang", "", 400, "is not a stream"},
		{"stream=tag:a%20b", "", 400, "is not a stream"},
		{"stream=tag:", "", 400, "is not a stream"},
		{"stream=public&watch=1,x", "", 400, "watch is a list of tweet ids"},
		{"stream=public&watch=" + strings.Repeat("1,", 100) + "1", "", 400, "at most 100"},
		{strings.Repeat("stream=public&", 9), "", 400, "Ask for 1 to 8 streams"},
		{"stream=public", "yesterday", 400, "not the id of an event"},
		{"stream=home", "", 401, "Sign in"},
		{"stream=notifications", "", 401, "Sign in"},
	} {
		var header []string
		if c.lastID != "" {
			header = []string{"Last-Event-ID", c.lastID}
		}
		got := anon.stream(c.query, header...)
		if got.status != c.status || !strings.Contains(got.body, c.text) {
			t.Errorf("%q: %d %q; want %d with %q", c.query, got.status, got.body, c.status, c.text)
		}
	}
	if n := s.hub.Open(); n != 0 {
		t.Errorf("%d streams open after refusals", n)
	}
}

// Streams are limited per client address and per account; past the limit
// the answer is a 429, and a closed stream makes room.
func TestLiveLimits(t *testing.T) {
	s := newSite(t)
	hub := live.NewHub(s.rdb, slog.New(slog.DiscardHandler), live.Limits{PerClient: 3, PerUser: 2})
	srv := httptest.NewServer(s.handler(Options{Hub: hub, ClientAddr: func(r *http.Request) string {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}}))
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	s.srv = srv
	bob := s.signedIn("bob")[0]
	a, b := bob.stream("stream=home"), bob.stream("stream=public")
	if a.status != 200 || b.status != 200 {
		t.Fatalf("first two: %d %d", a.status, b.status)
	}
	if c := bob.stream("stream=public"); c.status != http.StatusTooManyRequests || !strings.Contains(c.body, "Too many pages") {
		t.Errorf("bob's third: %d %q", c.status, c.body)
	}
	anon := s.browser().stream("stream=public") // the client's third
	if anon.status != 200 {
		t.Errorf("the address's third: %d", anon.status)
	}
	if d := s.browser().stream("stream=public"); d.status != http.StatusTooManyRequests {
		t.Errorf("the address's fourth: %d", d.status)
	}
	anon.close()
	deadline := time.Now().Add(5 * time.Second)
	for hub.Open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e := s.browser().stream("stream=public"); e.status != 200 {
		t.Errorf("after one closed: %d", e.status)
	}
}

// An idle stream gets a comment every heartbeat, so that proxies keep it
// open; over HTTP/1 the stream's end is the connection's (Connection:
// close), with the site's security headers.
func TestLiveHeartbeat(t *testing.T) {
	s := newSite(t)
	srv := httptest.NewServer(s.handler(Options{Heartbeat: 50 * time.Millisecond}))
	t.Cleanup(srv.Close)
	c := &http.Client{Timeout: 5 * time.Second} // ends the read if no heartbeat comes
	res, err := c.Get(srv.URL + "/events?stream=public")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Connection") != "close" && !res.Close || res.Header.Get("Content-Security-Policy") == "" ||
		res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers %v (close %v)", res.Header, res.Close)
	}
	sc := bufio.NewScanner(res.Body)
	beats := 0
	for beats < 3 && sc.Scan() {
		if sc.Text() == ": " {
			beats++
		}
	}
	if beats < 3 {
		t.Errorf("%d heartbeats; want 3 within 5 s at one each 50 ms", beats)
	}
}

// TestStreamsComeBackApart: each stream gives its browser a reconnection
// delay of its own, from 2 to 5 s, so that the pages whose streams end
// together (the site catching up after an outage, an instance stopping)
// do not all reconnect at once.
func TestStreamsComeBackApart(t *testing.T) {
	s := newSite(t)
	seen := map[int]bool{}
	for range 10 {
		res, err := s.srv.Client().Get(s.srv.URL + "/events?stream=public")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(res.Body)
		retry := -1
		for retry < 0 && sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "retry: "); ok {
				retry, _ = strconv.Atoi(v)
			}
		}
		res.Body.Close()
		if retry < 2000 || retry >= 5000 {
			t.Fatalf("a stream's retry is %d ms; want 2,000 to 4,999", retry)
		}
		seen[retry] = true
	}
	if len(seen) < 2 {
		t.Errorf("10 streams had the same retry: %v", seen)
	}
}
