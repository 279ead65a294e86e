package web

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/klauspost/compress/zstd"

	"pytwask/app/store"
	"pytwask/assets"
)

func TestErrorPagesInSiteLook(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	cases := []struct {
		method, path string
		status       int
		text         string
	}{
		{"GET", "/no/such/page", 404, "There is no page at this address."},
		{"GET", "/tweets/follow/bob", 405, "This address does not accept GET requests."},
		{"DELETE", "/auth/", 405, "This address does not accept DELETE requests."},
		{"POST", "/tweets/general_timeline", 405, "does not accept POST"},
		{"GET", "/tweets/general_timeline?page=abc", 400, "The page number must be"},
		{"GET", "/auth/?next=//evil.example", 200, `name="next" value=""`},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			p := b.do(c.method, c.path, nil, "")
			p.want(t, c.status, c.text, `<header class="site">`, `<h1>`)
			if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if c.status == 405 && p.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

func TestBadFormsRefusedAndNothingWritten(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	keys := s.rdb.DBSize(t.Context()).Val()
	cases := []struct {
		name, body string
		status     int
		text       string
	}{
		{"too large", "tweet=" + strings.Repeat("a", 70<<10), 413, "larger than 64 KiB"},
		{"duplicate field", "tweet=a&tweet=b", 400, "more than once"},
		{"invalid utf-8", "tweet=%ff%fe", 400, "not valid UTF-8"},
		{"nul", "tweet=a%00b", 422, "control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.do("POST", "/tweets/user_timeline", strings.NewReader(c.body), "application/x-www-form-urlencoded")
			p.want(t, c.status, c.text)
		})
	}
	p := b.post("/auth/signup", form("username", "ali\x00ce", "password", "Passw0rd!", "password2", "Passw0rd!"))
	p.want(t, 422, "Invalid username.")
	if after := s.rdb.DBSize(t.Context()).Val(); after != keys {
		t.Errorf("refused forms changed the key count from %d to %d", keys, after)
	}
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signUp("bob", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	keys := s.rdb.DBSize(t.Context()).Val()
	attacks := []struct {
		name   string
		header map[string]string
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example"}},
	}
	posts := []struct {
		path string
		form []string
	}{
		{"/tweets/user_timeline", []string{"tweet", "forged"}},
		{"/tweets/follow/bob", nil},
		{"/auth/user_settings", []string{"old_password", "Passw0rd!", "new_password", "Hack3d!pass", "new_password2", "Hack3d!pass"}},
		{"/auth/signout", nil},
		{"/auth/signup", []string{"username", "mallory", "password", "Passw0rd!", "password2", "Passw0rd!"}},
	}
	for _, a := range attacks {
		for _, p := range posts {
			t.Run(a.name+" "+p.path, func(t *testing.T) {
				for k, v := range a.header {
					b.header.Set(k, v)
				}
				defer func() { b.header = http.Header{} }()
				b.post(p.path, form(p.form...)).want(t, http.StatusForbidden, "sent from another site")
			})
		}
	}
	if after := s.rdb.DBSize(t.Context()).Val(); after != keys {
		t.Errorf("cross-site posts changed the key count from %d to %d", keys, after)
	}
	// The same POST from the site itself goes through.
	b.header.Set("Sec-Fetch-Site", "same-origin")
	b.post("/tweets/follow/bob", nil).wantRedirect(t, "/tweets/user_history/bob")
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	css := regexp.MustCompile(`/static/style\.[0-9a-f]+\.css`).FindString(b.get("/auth/").body)
	for _, path := range []string{"/auth/", "/tweets/general_timeline", "/nope", "/auth/?next=//x", css, "/healthz"} {
		p := b.get(path)
		h := p.header
		csp := h.Get("Content-Security-Policy")
		// Scripts: the site's own files only, never inline or from elsewhere.
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			strings.Contains(csp, "unsafe") || !strings.Contains(csp, "script-src 'self';") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	// No page refers to another host, and the one script is the site's file.
	script := regexp.MustCompile(`<script[^>]*>`)
	for _, path := range []string{"/auth/", "/auth/signup", "/tweets/general_timeline"} {
		body := b.get(path).body
		if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
			t.Errorf("%s refers to another host", path)
		}
		for _, tag := range script.FindAllString(body, -1) {
			if !regexp.MustCompile(`^<script src="/static/live\.[0-9a-f]+\.js" defer>$`).MatchString(tag) {
				t.Errorf("%s: script %s", path, tag)
			}
		}
		if strings.Count(body, "<script") != 1 || strings.Count(body, "</script>") != 1 {
			t.Errorf("%s: other scripts than the site's file", path)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	url := regexp.MustCompile(`/static/style\.[0-9a-f]{10}\.css`).FindString(b.get("/auth/").body)
	if url == "" {
		t.Fatal("no hashed stylesheet URL in the page")
	}
	p := b.get(url)
	p.want(t, 200, "--accent")
	if cc := p.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q", cc)
	}
	etag := p.header.Get("ETag")
	if etag == "" || p.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("ETag %q Content-Type %q", etag, p.header.Get("Content-Type"))
	}
	b.header.Set("If-None-Match", etag)
	if p := b.get(url); p.status != http.StatusNotModified || p.body != "" {
		t.Errorf("conditional GET: %d with %d bytes", p.status, len(p.body))
	}
	b.header = http.Header{"Accept-Encoding": {"gzip, br"}}
	if gz := b.get(url); gz.header.Get("Content-Encoding") != "gzip" || len(gz.body) >= len(p.body) {
		t.Errorf("gzip not served: %d bytes, %v", len(gz.body), gz.header)
	}
	b.header = http.Header{}

	// Another version's URL (a page from an instance not yet upgraded, or
	// already): this version's file, to be revalidated, not kept for a year.
	other := b.get("/static/style.0123456789.css")
	other.want(t, 200, "--accent")
	if other.body != p.body || other.header.Get("Cache-Control") != "no-cache" || other.header.Get("ETag") != etag ||
		other.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("another version's URL: %d bytes (want %d), headers %v", len(other.body), len(p.body), other.header)
	}
	b.header.Set("If-None-Match", etag)
	if p := b.get("/static/style.0123456789.css"); p.status != http.StatusNotModified {
		t.Errorf("conditional GET of another version's URL: %d", p.status)
	}
	b.header = http.Header{}
	for _, path := range []string{"/static/style.css", "/static/style.012345678.css", "/static/style.0123456789A.css",
		"/static/style.012345678g.css", "/static/nope.0123456789.css", "/static/style.0123456789.js", "/static/.0123456789.css",
		"/static/0123456789.css", "/static/style.0123456789"} {
		if p := b.get(path); p.status != 404 {
			t.Errorf("%s: %d, want 404", path, p.status)
		}
	}
}

// Pages go compressed to a client that asks (zstd first: Chromium offers
// it beside gzip), and decode to the page; a client that does not ask gets
// it as it is. Only pages: a live stream must reach the page event by
// event, and static files were compressed once at start.
func TestPagesCompressed(t *testing.T) {
	s := newSite(t)
	b := s.signedIn("alice")[0]
	b.post("/tweets/user_timeline", form("tweet", "Squeeze <b>me</b>")).want(t, http.StatusSeeOther)
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"zstd": func(r io.Reader) (io.Reader, error) { return zstd.NewReader(r) },
	}
	for _, c := range []struct {
		path, accept, want string
		status             int
		texts              []string
	}{
		{"/tweets/user_timeline", "gzip, deflate, br, zstd", "zstd", 200, []string{"Squeeze &lt;b&gt;me&lt;/b&gt;", "</html>"}},
		{"/tweets/user_timeline", "gzip", "gzip", 200, []string{"Squeeze &lt;b&gt;me&lt;/b&gt;", "</html>"}},
		{"/tweets/user_timeline", "identity", "", 200, []string{"Squeeze &lt;b&gt;me&lt;/b&gt;", "</html>"}},
		{"/tweets/user_timeline", "gzip;q=0", "", 200, []string{"Squeeze &lt;b&gt;me&lt;/b&gt;", "</html>"}},
		{"/tweets/999", "gzip", "gzip", 404, []string{"There is no tweet 999.", "</html>"}},
		{"/healthz", "gzip", "", 200, []string{"ok"}},
	} {
		b.header = http.Header{"Accept-Encoding": {c.accept}}
		p := b.get(c.path)
		if got := p.header.Get("Content-Encoding"); got != c.want {
			t.Errorf("%s, Accept-Encoding %q: Content-Encoding %q, want %q", c.path, c.accept, got, c.want)
			continue
		}
		if !slices.Contains(p.header.Values("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Vary %q", c.path, p.header.Values("Vary"))
		}
		body := p.body
		if c.want != "" {
			r, err := decoders[c.want](strings.NewReader(p.body))
			if err != nil {
				t.Fatalf("%s: %v", c.path, err)
			}
			page, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("%s: %v", c.path, err)
			}
			if body = string(page); len(p.body)*3 > len(body)*2 {
				t.Errorf("%s: %d bytes for a page of %d", c.path, len(p.body), len(body))
			}
		} else if p.header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("%s: Content-Length %q for %d bytes", c.path, p.header.Get("Content-Length"), len(body))
		}
		(&resp{status: p.status, body: body}).want(t, c.status, c.texts...)
	}

	// A stream comes as it is, each write at once, over HTTP/1.1 (where it
	// leaves net/http) and HTTP/2 (where it is flushed through it).
	h := s.handler(Options{Heartbeat: 50 * time.Millisecond})
	for _, h2 := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		defer srv.Close()
		c := srv.Client()
		c.Timeout = 5 * time.Second // ends the read if the heartbeats are held back
		req, err := http.NewRequest("GET", srv.URL+"/events?stream=public", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "gzip, zstd")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if ce := res.Header.Get("Content-Encoding"); res.StatusCode != 200 || ce != "" || res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
			t.Fatalf("stream: %d over %s, Content-Encoding %q", res.StatusCode, res.Proto, ce)
		}
		sc := bufio.NewScanner(res.Body)
		var lines []string
		for len(lines) < 5 && sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) == 5 && strings.HasPrefix(lines[2], "retry: ") {
			lines[2] = "retry: …" // TestStreamsComeBackApart checks its value
		}
		if want := []string{": live", "", "retry: …", "", ": "}; !slices.Equal(lines, want) {
			t.Errorf("%s stream began %q (%v); want %q", res.Proto, lines, sc.Err(), want)
		}
	}
}

func TestHealthAndRedisOutage(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	elsewhere := s.browser()
	elsewhere.signIn("alice", "Passw0rd!", false)
	b.get("/healthz").want(t, 200, "ok")
	b.get("/readyz").want(t, 200, "ready")

	s.redis.Stop()
	// Signing out ends this browser's session all the same: the sign-in
	// page it is sent to shows (a session's would need Redis).
	elsewhere.follow(elsewhere.post("/auth/signout", nil)).want(t, 200, "Logged out of this browser.", `action="/auth/"`)
	for _, path := range []string{"/tweets/general_timeline", "/tweets/user_timeline", "/tweets/user_history/alice"} {
		p := b.get(path)
		p.want(t, http.StatusServiceUnavailable, "The database is not answering right now", `<header class="site">`)
		if p.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", path)
		}
	}
	b.post("/auth/", form("username", "alice", "password", "Passw0rd!")).want(t, http.StatusServiceUnavailable)
	b.get("/readyz").want(t, http.StatusServiceUnavailable)
	b.get("/healthz").want(t, 200)

	// The test server keeps nothing on disk: it comes back empty, and the
	// site recovers without a restart; the stale session fails closed.
	s.redis.Restart()
	deadline := time.Now().Add(2 * time.Second)
	for b.get("/readyz").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("site did not recover within 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.get("/tweets/general_timeline").want(t, 200, "No tweets here yet.")
	b.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
}

func TestStartFailsOnMissingOrBrokenTemplate(t *testing.T) {
	full := fstest.MapFS{}
	err := fs.WalkDir(assets.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := fs.ReadFile(assets.FS, path)
			full[path] = &fstest.MapFile{Data: data}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Assets: full, SessionKeys: testKeys}); err != nil {
		t.Fatalf("the real assets do not start: %v", err)
	}
	cases := map[string]func(fstest.MapFS){
		"missing page": func(m fstest.MapFS) { delete(m, "templates/signup.html") },
		"syntax error": func(m fstest.MapFS) {
			m["templates/timeline.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{if}}{{end}}`)}
		},
		"unknown field": func(m fstest.MapFS) {
			m["templates/index.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.Nope}}{{end}}`)}
		},
		"missing static file": func(m fstest.MapFS) { delete(m, "static/style.css") },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range full {
				m[k] = v
			}
			breakIt(m)
			if _, err := New(Options{Assets: m, SessionKeys: testKeys}); err == nil {
				t.Fatal("the server started anyway")
			}
		})
	}
}

// brokenPipe is a client that hangs up once the response has begun.
type brokenPipe struct {
	*httptest.ResponseRecorder
	headers int
}

func (b *brokenPipe) WriteHeader(code int) { b.headers++; b.ResponseRecorder.WriteHeader(code) }
func (b *brokenPipe) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
}

// TestClientHangingUpIsNotAnOutage: a page that can't be written because the
// client went away is neither a Redis outage nor a bug, and gets no second
// (error) page on top of the first.
func TestClientHangingUpIsNotAnOutage(t *testing.T) {
	var logs strings.Builder
	s := newSite(t)
	s.browser().signUp("alice", "Passw0rd!")
	h := s.handler(Options{Logger: newTestLogger(&logs)})
	for _, path := range []string{"/tweets/general_timeline", "/tweets/user_history/alice", "/auth/"} {
		w := &brokenPipe{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusOK || w.headers != 1 {
			t.Errorf("%s: status %d after %d WriteHeader calls, want one 200", path, w.Code, w.headers)
		}
	}
	if got := logs.String(); strings.Contains(got, "level=WARN") || strings.Contains(got, "level=ERROR") {
		t.Errorf("a client hanging up was logged as a problem:\n%s", got)
	}
}

// TestClientGoneBeforeTheAnswer: a client that goes away while its request
// waits (on Redis, for a password check) gets nothing written, changes
// nothing, and is logged as 499: neither an outage nor a bug.
func TestClientGoneBeforeTheAnswer(t *testing.T) {
	var logs strings.Builder
	s := newSite(t)
	session := s.sessionOf("alice", "Passw0rd!")
	h := s.handler(Options{Logger: newTestLogger(&logs)})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	requests := []struct{ method, path, form string }{
		{"GET", "/tweets/general_timeline", ""},
		{"GET", "/tweets/user_timeline", ""},
		{"GET", "/tweets/user_history/alice", ""},
		{"POST", "/tweets/user_timeline", "tweet=never+posted"},
		{"POST", "/auth/", "username=alice&password=Passw0rd%21"},
	}
	for _, req := range requests {
		r := httptest.NewRequestWithContext(gone, req.method, req.path, strings.NewReader(req.form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(session)
		w := &brokenPipe{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(w, r)
		if w.headers != 0 {
			t.Errorf("%s %s: status %d written to a client that went away", req.method, req.path, w.Code)
		}
	}
	got := logs.String()
	if n := strings.Count(got, "status=499"); n != len(requests) {
		t.Errorf("%d of %d requests logged with status 499:\n%s", n, len(requests), got)
	}
	if strings.Contains(got, "level=WARN") || strings.Contains(got, "level=ERROR") {
		t.Errorf("a client going away was logged as a problem:\n%s", got)
	}
	if n, err := s.rdb.LLen(context.Background(), "timeline").Result(); err != nil || n != 0 {
		t.Errorf("general timeline holds %d tweets (%v), want none", n, err)
	}
}

// TestBusyPasswordChecksPage: a password check that waited too long for a
// slot (store.ErrBusy, under a flood of sign-ins) is a 503 page in the site's
// look saying to try again, with Retry-After, and a warning for the operator.
func TestBusyPasswordChecksPage(t *testing.T) {
	var logs strings.Builder
	h := newSite(t).handler(Options{Logger: newTestLogger(&logs)})
	for _, path := range []string{"/auth/", "/auth/signup", "/auth/user_settings"} {
		w := httptest.NewRecorder()
		h.fail(w, httptest.NewRequest("POST", path, nil), fmt.Errorf("check the password: %w", store.ErrBusy))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 and 5", path, w.Code, w.Header().Get("Retry-After"))
		}
		for _, want := range []string{"busy checking other passwords", "please try again in a few seconds", `<header class="site">`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("%s: the page lacks %q", path, want)
			}
		}
	}
	if n := strings.Count(logs.String(), `level=WARN msg="password checks busy"`); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, logs.String())
	}
}

// TestAccessLog: one info line per request, naming what an operator looks
// for; health checks only at debug level; PYTWASK_LOG_LEVEL=warn silences it.
func TestAccessLog(t *testing.T) {
	s := newSite(t)
	cases := []struct {
		level slog.Level
		path  string
		want  string // "" for no line
	}{
		{slog.LevelInfo, "/tweets/general_timeline", `level=INFO msg=request method=GET path=/tweets/general_timeline status=200 `},
		{slog.LevelInfo, "/no/such/page", `level=INFO msg=request method=GET path=/no/such/page status=404 `},
		{slog.LevelInfo, "/readyz", ""},
		{slog.LevelDebug, "/readyz", `level=DEBUG msg=request method=GET path=/readyz status=200 `},
		{slog.LevelWarn, "/tweets/general_timeline", ""},
	}
	for _, c := range cases {
		var logs strings.Builder
		h := s.handler(Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: c.level}))})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", c.path, nil))
		got := logs.String()
		switch {
		case c.want == "" && got != "":
			t.Errorf("%v, %s: logged\n%s", c.level, c.path, got)
		case c.want != "" && (!strings.Contains(got, c.want) || !strings.Contains(got, " client=192.0.2.1")):
			t.Errorf("%v, %s: want a line with %q and the client, got\n%s", c.level, c.path, c.want, got)
		}
	}
}
