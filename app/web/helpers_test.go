package web

import (
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/net/html"

	"pytwask/app/live"
	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
	"pytwask/assets"
)

// site is the real handler on a real test Redis, behind a real HTTP server.
type site struct {
	t     testing.TB
	srv   *httptest.Server
	redis *redistest.Server
	rdb   *redis.Client
	store *store.Store
	hub   *live.Hub

	mu  sync.Mutex
	now time.Time // the site's clock: setNow, and the handler reads it
}

// setNow sets the site's clock.
func (s *site) setNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t
}

func (s *site) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func newSite(t testing.TB) *site { return newSiteTLS(t, false) }

func newSiteTLS(t testing.TB, useTLS bool) *site {
	t.Helper()
	rs := redistest.Start(t)
	rdb := rs.Client()
	t.Cleanup(func() { rdb.Close() })
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	s := &site{t: t, redis: rs, rdb: rdb, store: st, now: time.Now()}
	// The hub has its own client, so that its reads are not counted in the
	// store's round trips.
	hubRdb := rs.Client()
	t.Cleanup(func() { hubRdb.Close() })
	s.hub = live.NewHub(hubRdb, slog.New(slog.DiscardHandler), live.Limits{})
	hubCtx, stopHub := context.WithCancel(context.Background())
	go s.hub.Run(hubCtx) // ends once the client is closed, not waited for: it may be blocked reading
	t.Cleanup(func() { s.hub.Close(); stopHub() })
	h := s.handler(Options{
		Now:        s.clock,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		EditWindow: store.DefaultEditWindow,
		NameHold:   store.DefaultNameHold,
	})
	if useTLS {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	t.Cleanup(s.hub.Close) // first: streams left open would hold up Close
	return s
}

// testKeys are every test site's session keys.
func testKeys(context.Context) ([]string, error) { return []string{strings.Repeat("k", 32)}, nil }

// handler returns a handler on the site's store and session keys, with o's
// other options: a logger to read, limits, a client address.
func (s *site) handler(o Options) *Server {
	s.t.Helper()
	o.Store, o.Assets, o.SessionKeys = s.store, siteAssets(), testKeys
	if o.Hub == nil {
		o.Hub = s.hub
	}
	h, err := New(o)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// sessionOf signs up and signs in a new user, and returns the session cookie
// that a handler built with s.handler takes for theirs.
func (s *site) sessionOf(name, pw string) *http.Cookie {
	b := s.browser()
	b.signUp(name, pw)
	b.signIn(name, pw, false)
	return b.cookie("pytwask_session")
}

// browser is one client with its own cookies. It does not follow redirects
// by itself, so that tests can check where they lead.
type browser struct {
	t    testing.TB
	site *site
	c    *http.Client
	// header is added to every request (e.g. Sec-Fetch-Site).
	header http.Header
	// base is the URL of the server it talks to, if not the site's.
	base string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if s.srv.TLS != nil {
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	return &browser{t: s.t, site: s, c: c, header: http.Header{}}
}

// signedIn returns a browser for each name, in order, each signed up and
// then signed in (password Passw0rd!, not kept logged in).
func (s *site) signedIn(names ...string) []*browser {
	bs := make([]*browser, len(names))
	for i, n := range names {
		bs[i] = s.browser()
		bs[i].signUp(n, "Passw0rd!")
		bs[i].signIn(n, "Passw0rd!", false)
	}
	return bs
}

// resp is a response as a test looks at it.
type resp struct {
	status int
	header http.Header
	body   string
	loc    string
}

func (b *browser) do(method, path string, body io.Reader, ctype string) *resp {
	b.t.Helper()
	base := b.site.srv.URL
	if b.base != "" {
		base = b.base
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: string(raw), loc: res.Header.Get("Location")}
}

func (b *browser) get(path string) *resp { b.t.Helper(); return b.do("GET", path, nil, "") }

func (b *browser) post(path string, form url.Values) *resp {
	b.t.Helper()
	return b.do("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// follow GETs the page a redirect points to.
func (b *browser) follow(p *resp) *resp {
	b.t.Helper()
	if p.status/100 != 3 || p.loc == "" {
		b.t.Fatalf("expected a redirect, got %d:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(u.RequestURI())
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func (p *resp) want(t testing.TB, status int, texts ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d; want %d\n%s", p.status, status, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("page lacks %q:\n%s", s, p.body)
		}
	}
}

func (p *resp) wantRedirect(t testing.TB, to string) {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("status %d; want a redirect to %s\n%s", p.status, to, p.body)
	}
	if p.loc != to {
		t.Fatalf("redirect to %q; want %q", p.loc, to)
	}
}

// signUp registers through the sign-up form.
func (b *browser) signUp(name, pw string) {
	b.t.Helper()
	p := b.post("/auth/signup", form("username", name, "password", pw, "password2", pw))
	p.wantRedirect(b.t, "/auth/")
}

// signIn signs in through the form and checks where it lands.
func (b *browser) signIn(name, pw string, remember bool) *resp {
	b.t.Helper()
	f := form("username", name, "password", pw)
	if remember {
		f.Set("remember_me", "y")
	}
	p := b.post("/auth/", f)
	p.wantRedirect(b.t, "/tweets/user_timeline")
	return b.follow(p)
}

// shownTweet is a tweet as the page shows it: its counts as their text
// ("2 likes"), and its buttons' labels, space-separated.
type shownTweet struct {
	Author, Datetime, Title, Ago, Body string
	RepostedBy                         string
	Replies, Reposts, Likes, Buttons   string
	Delete, Edit                       string // the delete and edit links' targets
	Edited                             string // "edited <when>", if it was
}

// tweets parses the tweets out of a page.
func (p *resp) tweets(t testing.TB) []shownTweet {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []shownTweet
	var walk func(n *html.Node, cur *shownTweet)
	walk = func(n *html.Node, cur *shownTweet) {
		if n.Type == html.ElementNode {
			cls := attr(n, "class")
			switch {
			case n.Data == "li" && cls == "tweet":
				out = append(out, shownTweet{})
				cur = &out[len(out)-1]
			case cur != nil && n.Data == "a" && cls == "author":
				cur.Author = text(n)
			case cur != nil && n.Data == "time":
				cur.Datetime, cur.Title, cur.Ago = attr(n, "datetime"), attr(n, "title"), text(n)
			case cur != nil && n.Data == "p" && cls == "body":
				cur.Body = text(n)
			case cur != nil && n.Data == "p" && cls == "reposted-by":
				cur.RepostedBy = text(n)
			case cur != nil && cls == "replies":
				cur.Replies = text(n)
			case cur != nil && cls == "reposts":
				cur.Reposts = text(n)
			case cur != nil && cls == "likes":
				cur.Likes = text(n)
			case cur != nil && n.Data == "a" && cls == "delete":
				cur.Delete = attr(n, "href")
			case cur != nil && n.Data == "a" && cls == "edit":
				cur.Edit = attr(n, "href")
			case cur != nil && cls == "edited":
				cur.Edited = text(n)
			case cur != nil && n.Data == "button":
				cur.Buttons = strings.TrimSpace(cur.Buttons + " " + text(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return out
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.site.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func siteAssets() fs.FS { return assets.FS }

// newTestLogger logs text into w (guarded: handlers log concurrently).
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
