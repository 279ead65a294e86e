package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSessionKeyRotation: a cookie signed with the old key is still accepted
// when the old key follows a new one, and refused once it is dropped.
func TestSessionKeyRotation(t *testing.T) {
	oldKey, newKey := strings.Repeat("o", 32), strings.Repeat("n", 32)
	encode := func(keys ...string) *http.Cookie {
		cs, err := newCookieStore(keys)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		sess, _ := cs.New(r, cookieName)
		sess.Values[valAuth] = "secret"
		w := httptest.NewRecorder()
		if err := sess.Save(r, w); err != nil {
			t.Fatal(err)
		}
		return w.Result().Cookies()[0]
	}
	decode := func(c *http.Cookie, keys ...string) string {
		cs, _ := newCookieStore(keys)
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(c)
		sess, _ := cs.New(r, cookieName)
		v, _ := sess.Values[valAuth].(string)
		return v
	}
	c := encode(oldKey)
	if got := decode(c, newKey, oldKey); got != "secret" {
		t.Errorf("old cookie with rotated keys: %q; want it accepted", got)
	}
	if got := decode(c, newKey); got != "" {
		t.Error("old cookie accepted after its key was dropped")
	}
	if got := decode(encode(newKey, oldKey), newKey); got != "secret" {
		t.Error("new cookies are not signed with the first key")
	}
	if strings.Contains(c.Value, "secret") {
		t.Error("cookie value readable")
	}
}

func TestServerErrorPage(t *testing.T) {
	s := newSite(t)
	// A key of the wrong type is a corrupt database: a 500, never a 503.
	s.rdb.Set(t.Context(), "timeline", "not a list", 0)
	p := s.browser().get("/tweets/general_timeline")
	p.want(t, http.StatusInternalServerError, "Something went wrong", `<header class="site">`)
	if strings.Contains(p.body, "WRONGTYPE") {
		t.Error("the page shows the internal error")
	}
}

// TestVerifiedCookieCache: a remembered cookie gives the same session, a
// flash added to it does not leak into the cache, and it expires.
func TestVerifiedCookieCache(t *testing.T) {
	v := newVerifiedCookies(4)
	now := time.Now()
	v.put("c1", map[any]any{valAuth: "secret", valFlashes: []any{"ok\x00hi"}}, now)
	got, ok := v.get("c1", now.Add(30*time.Second))
	if !ok || got[valAuth] != "secret" {
		t.Fatalf("get = %v %v", got, ok)
	}
	got[valFlashes] = append(got[valFlashes].([]any), "ok\x00more")
	got[valAuth] = "changed"
	again, _ := v.get("c1", now)
	if again[valAuth] != "secret" || len(again[valFlashes].([]any)) != 1 {
		t.Errorf("a change to a returned session reached the cache: %v", again)
	}
	if _, ok := v.get("c1", now.Add(verifiedFor+time.Second)); ok {
		t.Error("an old verification was trusted")
	}
	if _, ok := v.get("other", now); ok {
		t.Error("an unknown cookie was found")
	}
	for i := range 10 {
		v.put(string(rune('a'+i)), map[any]any{}, now)
	}
	if n := v.cookies.Len(); n > 4 {
		t.Errorf("cache holds %d cookies; bound is 4", n)
	}
}

// TestFlashesBounded: a client that posts and never loads the next page
// keeps a cookie of bounded size (found by FuzzForms).
func TestFlashesBounded(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	for i := range 40 {
		b.post("/tweets/user_timeline", form("tweet", "post "+strconv.Itoa(i))).wantRedirect(t, "/tweets/user_timeline")
	}
	p := b.get("/tweets/user_timeline")
	if n := strings.Count(p.body, "Tweet successfully posted"); n != maxFlashes {
		t.Errorf("%d flash messages shown; want the last %d", n, maxFlashes)
	}
	if c := b.cookie(cookieName); c == nil || len(c.Value) > 2000 {
		t.Errorf("session cookie of %d bytes", len(c.Value))
	}
}

// TestNoSessionFixation: a cookie planted before sign-in (or kept from before
// a password change) never grants the signed-in session.
func TestNoSessionFixation(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.get("/auth/user_settings") // leaves a pre-sign-in session (a flash)
	planted := b.cookie(cookieName)
	if planted == nil {
		t.Fatal("no pre-sign-in session cookie")
	}
	b.signIn("alice", "Passw0rd!", false)
	signedIn := b.cookie(cookieName)
	if signedIn.Value == planted.Value {
		t.Fatal("the session cookie was not renewed at sign-in")
	}
	attacker := s.browser()
	attacker.c.Jar.SetCookies(mustURL(s.srv.URL), []*http.Cookie{{Name: cookieName, Value: planted.Value, Path: "/"}})
	attacker.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")

	// After a password change, the cookie from before it is worthless too.
	b.post("/auth/user_settings", form("old_password", "Passw0rd!", "new_password", "N3w-Passw0rd", "new_password2", "N3w-Passw0rd"))
	if b.cookie(cookieName).Value == signedIn.Value {
		t.Fatal("the session cookie was not renewed at the password change")
	}
	stale := s.browser()
	stale.c.Jar.SetCookies(mustURL(s.srv.URL), []*http.Cookie{{Name: cookieName, Value: signedIn.Value, Path: "/"}})
	stale.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	b.get("/tweets/user_timeline").want(t, 200, "Your Timeline")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSessionLifetime: the server ends sign-ins by its own clock, whatever
// the browser keeps: without "Keep me logged in", after 12 hours unused or
// 24 hours in all; with it, a week after signing in. A session dated in the
// future is not one the server made.
func TestSessionLifetime(t *testing.T) {
	start := time.Now()
	cases := []struct {
		name     string
		remember bool
		steps    []time.Duration // since the sign-in, each with a page view
		signedIn []bool
	}{
		{"used every 11 hours, until 24 hours", false,
			[]time.Duration{11 * time.Hour, 22 * time.Hour, 24*time.Hour + time.Minute},
			[]bool{true, true, false}},
		{"unused for 12 hours", false,
			[]time.Duration{12*time.Hour + time.Minute},
			[]bool{false}},
		{"kept logged in, for a week", true,
			[]time.Duration{13 * time.Hour, 6 * 24 * time.Hour, 7*24*time.Hour + time.Minute},
			[]bool{true, true, false}},
		{"dated two hours ahead", false,
			[]time.Duration{-2 * time.Hour},
			[]bool{false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t)
			b := s.browser()
			b.signUp("alice", "Passw0rd!")
			s.setNow(start)
			b.signIn("alice", "Passw0rd!", c.remember)
			for i, step := range c.steps {
				s.setNow(start.Add(step))
				p := b.get("/tweets/user_timeline")
				if got := p.status == http.StatusOK; got != c.signedIn[i] {
					t.Errorf("%v after signing in: signed in %v (status %d); want %v", step, got, p.status, c.signedIn[i])
				}
			}
		})
	}
}

// TestSignOutOthers: the action offered after signing in ends every other
// session of the user, and keeps this one.
func TestSignOutOthers(t *testing.T) {
	s := newSite(t)
	here, there := s.browser(), s.browser()
	here.signUp("alice", "Passw0rd!")
	there.signIn("alice", "Passw0rd!", true)
	p := here.signIn("alice", "Passw0rd!", false)
	p.want(t, 200, "Logged in successfully.", `<form class="flash others" method="post" action="/auth/signout_others">`, "Sign out everywhere else")
	here.get("/auth/user_settings").want(t, 200, `action="/auth/signout_others"`)
	here.post("/auth/signout_others", nil).wantRedirect(t, "/auth/user_settings")
	here.get("/auth/user_settings").want(t, 200, "Signed out of every other session.")
	there.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	here.get("/tweets/user_timeline").want(t, 200, "Signed in as")
	// Without a session there is nothing to keep.
	s.browser().post("/auth/signout_others", nil).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
}

// TestSessionKeyReplacedInRedis runs instances on one Redis that keeps
// their cookie key, and replaces the key there, as a restore of another
// database or a wipe does (and an operator who wants everybody signed out):
// a cookie of the new key is taken at once by an instance that still signs
// with the old one, and within keysFresh every instance signs with the new
// key and refuses the old one's cookies. Before, each instance kept the key
// it read first: a user signed in on one was signed out on the next.
func TestSessionKeyReplacedInRedis(t *testing.T) {
	s := newSite(t)
	var logged lockedWriter
	var text strings.Builder
	logged.w = &text
	instance := func() string {
		h, err := New(Options{
			Store: s.store, Assets: siteAssets(), SessionKeys: s.store.SessionKeys, Hub: s.hub,
			Now: s.clock, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	// on is the browser b talking to the instance at base, with b's cookies.
	on := func(base string, b *browser) *browser {
		c := *b
		c.base = base
		return &c
	}
	signedIn := func(who string, b *browser, want bool) {
		t.Helper()
		p := b.get("/tweets/user_timeline")
		if got := p.status == http.StatusOK; got != want {
			t.Errorf("%s on %s: %d %s; want signed in %v", who, b.base, p.status, p.loc, want)
		}
	}
	a, b := instance(), instance()
	alice := on(a, s.browser())
	alice.signUp("alice", "Passw0rd!")
	alice.signIn("alice", "Passw0rd!", false)
	signedIn("alice", on(b, alice), true)

	// The key is replaced; a new instance signs with the new one.
	if err := s.rdb.Del(context.Background(), "pytwask:session_keys").Err(); err != nil {
		t.Fatal(err)
	}
	s.setNow(s.clock().Add(keysRecheck))
	c := instance()
	bob := on(c, s.browser())
	bob.signUp("bob", "Passw0rd!")
	bob.signIn("bob", "Passw0rd!", false)
	signedIn("bob", on(a, bob), true)
	signedIn("bob", on(b, bob), true)

	s.setNow(s.clock().Add(keysFresh + time.Second))
	signedIn("alice", on(a, alice), false)
	signedIn("alice", on(b, alice), false)
	carol := on(b, s.browser())
	carol.signUp("carol", "Passw0rd!")
	carol.signIn("carol", "Passw0rd!", false)
	signedIn("carol", on(a, carol), true)
	signedIn("carol", on(c, carol), true)

	logged.mu.Lock()
	defer logged.mu.Unlock()
	if n := strings.Count(text.String(), "the session key in Redis was replaced"); n != 2 {
		t.Errorf("the replaced key logged %d times; want once by each of the two instances that had the old one:\n%s", n, text.String())
	}
}
