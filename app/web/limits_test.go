package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
)

// limitedSite is a site with small limits and a client address taken from a
// test header, so that tests can play several clients.
func limitedSite(t *testing.T, l Limits) *site {
	s := newSite(t)
	h := s.handler(Options{
		ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
		Limits:     l,
	})
	s.srv.Close()
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	return s
}

func TestSignInLimits(t *testing.T) {
	s := limitedSite(t, Limits{
		SignInPerClient: store.Limit{Max: 5, Window: time.Minute},
		SignInPerUser:   store.Limit{Max: 3, Window: 10 * time.Minute},
	})
	ctx := t.Context()
	if err := s.store.Register(ctx, "alice", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	client := func(addr string) *browser {
		b := s.browser()
		b.header.Set("X-Test-Client", addr)
		return b
	}

	// Per username: three failures from three addresses lock the name,
	// even for the right password, with a page that says when to retry.
	for i, addr := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		p := client(addr).post("/auth/", form("username", "alice", "password", "Wrong0rd!"+strconv.Itoa(i)))
		p.want(t, http.StatusUnprocessableEntity, "Invalid username or password")
	}
	p := client("203.0.113.4").post("/auth/", form("username", "alice", "password", "Passw0rd!"))
	p.want(t, http.StatusTooManyRequests, "too many failed sign-ins for this username", "Please try again in 10 minutes")
	if ra, _ := strconv.Atoi(p.header.Get("Retry-After")); ra < 590 || ra > 600 {
		t.Errorf("Retry-After %q; want about 600", p.header.Get("Retry-After"))
	}
	// Other names are not affected.
	client("203.0.113.4").post("/auth/", form("username", "bob", "password", "x")).want(t, http.StatusUnprocessableEntity)

	// Per address: the sixth attempt from one address is refused whatever
	// the name; IPv6 addresses count by their /64.
	v6 := func(suffix string) *browser { return client("2001:db8:1:2::" + suffix) }
	for i := range 5 {
		v6(strconv.Itoa(i+1)).post("/auth/", form("username", "nobody"+strconv.Itoa(i), "password", "x")).want(t, http.StatusUnprocessableEntity)
	}
	v6("99").post("/auth/", form("username", "carol", "password", "x")).want(t, http.StatusTooManyRequests, "too many sign-in attempts from your address")
	client("2001:db8:1:3::1").post("/auth/", form("username", "carol", "password", "x")).want(t, http.StatusUnprocessableEntity)

	// Nothing of the limits lands in pytwis's keys.
	for _, k := range s.rdb.Keys(ctx, "*").Val() {
		if !strings.HasPrefix(k, "pytwask:") && !strings.Contains("users auths next_user_id user:1", k) {
			t.Errorf("unexpected key %s", k)
		}
	}
}

func TestSignUpLimit(t *testing.T) {
	s := limitedSite(t, Limits{SignUpPerClient: store.Limit{Max: 2, Window: time.Hour}})
	b := s.browser()
	b.header.Set("X-Test-Client", "198.51.100.9")
	b.post("/auth/signup", form("username", "user1", "password", "Passw0rd!", "password2", "Passw0rd!")).wantRedirect(t, "/auth/")
	b.post("/auth/signup", form("username", "user2", "password", "Passw0rd!", "password2", "Passw0rd!")).wantRedirect(t, "/auth/")
	b.post("/auth/signup", form("username", "user3", "password", "Passw0rd!", "password2", "Passw0rd!")).want(t, http.StatusTooManyRequests, "too many sign-ups from your address", "60 minutes")
	if s.rdb.HExists(t.Context(), "users", "user3").Val() {
		t.Error("a refused sign-up created the user")
	}
}

// TestFailedSignInLogged: the log names the client and the username, never
// the password, so that fail2ban can act on it.
func TestFailedSignInLogged(t *testing.T) {
	var logs strings.Builder
	s := newSite(t)
	h := s.handler(Options{
		ClientAddr: func(*http.Request) string { return "192.0.2.55" },
		Logger:     newTestLogger(&logs),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	s.srv = srv
	s.browser().post("/auth/", form("username", "mallory", "password", "Secr3t!guess"))
	got := logs.String()
	if !strings.Contains(got, `msg="sign-in failed" client=192.0.2.55 username=mallory`) {
		t.Errorf("log lacks the failed sign-in line:\n%s", got)
	}
	if strings.Contains(got, "Secr3t!guess") {
		t.Error("the password was logged")
	}
}
