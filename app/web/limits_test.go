package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
		SignInPerClient:  store.Limit{Max: 5, Window: time.Minute},
		SignInPerUser:    store.Limit{Max: 3, Window: 10 * time.Minute},
		SignInPerUserAll: store.Limit{Max: 6, Window: time.Hour},
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

	// alice's own browser, where she signed in before.
	own := client("198.51.100.7")
	own.post("/auth/", form("username", "alice", "password", "Passw0rd!")).wantRedirect(t, "/tweets/user_timeline")
	own.post("/auth/signout", nil)

	// Per username and network: three failures from one /24 lock the name
	// there, even for the right password, with a page that says when to
	// retry.
	for i, addr := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		p := client(addr).post("/auth/", form("username", "alice", "password", "Wrong0rd!"+strconv.Itoa(i)))
		p.want(t, http.StatusUnprocessableEntity, "Invalid username or password")
	}
	p := client("203.0.113.4").post("/auth/", form("username", "alice", "password", "Passw0rd!"))
	p.want(t, http.StatusTooManyRequests, "too many failed sign-ins for this username from your network", "Please try again in 10 minutes")
	if ra, _ := strconv.Atoi(p.header.Get("Retry-After")); ra < 590 || ra > 600 {
		t.Errorf("Retry-After %q; want about 600", p.header.Get("Retry-After"))
	}
	// Other names are not affected, nor other networks.
	client("203.0.113.4").post("/auth/", form("username", "bob", "password", "x")).want(t, http.StatusUnprocessableEntity)
	client("192.0.2.50").post("/auth/", form("username", "alice", "password", "Wrong0rd!")).want(t, http.StatusUnprocessableEntity)

	// The ceiling: failures from many networks (six so far: three above,
	// one, and two more here) lock the name for browsers it was never used
	// in ...
	client("192.0.2.60").post("/auth/", form("username", "alice", "password", "Wrong0rd!")).want(t, http.StatusUnprocessableEntity)
	client("192.0.3.60").post("/auth/", form("username", "alice", "password", "Wrong0rd!")).want(t, http.StatusUnprocessableEntity)
	client("192.0.4.60").post("/auth/", form("username", "alice", "password", "Passw0rd!")).want(t, http.StatusTooManyRequests, "too many failed sign-ins for this username.")
	// ... but not for alice's own browser, even from the attacker's network.
	own.header.Set("X-Test-Client", "203.0.113.9")
	own.post("/auth/", form("username", "alice", "password", "Passw0rd!")).wantRedirect(t, "/tweets/user_timeline")
	own.post("/auth/signout", nil)
	// Her browser's own failures count against it alone.
	for range 3 {
		own.post("/auth/", form("username", "alice", "password", "Wrong0rd!")).want(t, http.StatusUnprocessableEntity)
	}
	own.post("/auth/", form("username", "alice", "password", "Passw0rd!")).want(t, http.StatusTooManyRequests, "too many failed sign-ins in this browser")

	// A device cookie made with other keys is no device cookie.
	forged := client("198.51.100.8")
	authURL, _ := url.Parse(s.srv.URL + "/auth/")
	forged.c.Jar.SetCookies(authURL, []*http.Cookie{{Name: deviceCookie, Value: "forged", Path: "/auth/"}})
	forged.post("/auth/", form("username", "alice", "password", "Passw0rd!")).want(t, http.StatusTooManyRequests, "too many failed sign-ins for this username.")

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

// TestSignInLimitRace: 30 wrong passwords at once for one username, with a
// limit of 10, check at most 10 passwords: the attempt is counted before
// the check, atomically.
func TestSignInLimitRace(t *testing.T) {
	s := limitedSite(t, Limits{SignInPerUser: store.Limit{Max: 10, Window: time.Minute}})
	if err := s.store.Register(t.Context(), "alice", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	statuses := make(chan int, 30)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			b := s.browser()
			b.header.Set("X-Test-Client", "203.0.113."+strconv.Itoa(i+1))
			statuses <- b.post("/auth/", form("username", "alice", "password", "Wrong0rd!")).status
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for st := range statuses {
		got[st]++
	}
	if got[http.StatusUnprocessableEntity] > 10 || got[http.StatusUnprocessableEntity]+got[http.StatusTooManyRequests] != 30 {
		t.Errorf("30 wrong passwords at once: %v; want at most 10 checked (422), the rest 429", got)
	}
}

// TestChangePasswordLimits: the settings form's old-password check counts
// against the sign-in limits; a right one does not.
func TestChangePasswordLimits(t *testing.T) {
	s := limitedSite(t, Limits{SignInPerUser: store.Limit{Max: 3, Window: time.Minute}})
	b := s.browser()
	b.header.Set("X-Test-Client", "203.0.113.1")
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	change := func(old string) *resp {
		return b.post("/auth/user_settings", form("old_password", old, "new_password", "N3w-Passw0rd", "new_password2", "N3w-Passw0rd"))
	}
	for range 3 {
		change("Wrong0rd!").want(t, http.StatusUnprocessableEntity, "Incorrect old password")
	}
	change("Passw0rd!").want(t, http.StatusTooManyRequests, "too many failed sign-ins for this username")
	// From another network, the right old password changes it.
	b.header.Set("X-Test-Client", "198.51.100.1")
	change("Passw0rd!").wantRedirect(t, "/auth/user_settings")
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

// TestPostAndFollowLimits: posts and follows are limited per account and
// per client address, with the 429 page; what was refused is not stored.
func TestPostAndFollowLimits(t *testing.T) {
	s := limitedSite(t, Limits{
		PostPerUser: store.Limit{Max: 3, Window: time.Hour}, PostPerClient: store.Limit{Max: 5, Window: time.Hour},
		FollowPerUser: store.Limit{Max: 2, Window: time.Hour}, FollowPerClient: store.Limit{Max: 100, Window: time.Hour},
	})
	ctx := t.Context()
	for _, name := range []string{"bob", "carol", "dave"} {
		if err := s.store.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
	}
	alice := s.browser()
	alice.header.Set("X-Test-Client", "203.0.113.1")
	alice.signUp("alice", "Passw0rd!")
	alice.signIn("alice", "Passw0rd!", false)
	for i := range 3 {
		alice.post("/tweets/user_timeline", form("tweet", "post "+strconv.Itoa(i))).wantRedirect(t, "/tweets/user_timeline")
	}
	p := alice.post("/tweets/user_timeline", form("tweet", "one too many"))
	p.want(t, http.StatusTooManyRequests, "too many tweets from your account", "Please try again in")
	if n := s.rdb.LLen(ctx, "timeline").Val(); n != 3 {
		t.Errorf("the general timeline holds %d tweets; want the 3 allowed", n)
	}

	// Another account from the same address has one post left there (the
	// refused one counted against the address too).
	bob := s.browser()
	bob.header.Set("X-Test-Client", "203.0.113.1")
	bob.signIn("bob", "Passw0rd!", false)
	bob.post("/tweets/user_timeline", form("tweet", "bob's")).wantRedirect(t, "/tweets/user_timeline")
	bob.post("/tweets/user_timeline", form("tweet", "bob's second")).want(t, http.StatusTooManyRequests, "too many tweets from your address")

	alice.post("/tweets/follow/bob", nil).wantRedirect(t, "/tweets/user_history/bob")
	alice.post("/tweets/follow/carol", nil).wantRedirect(t, "/tweets/user_history/carol")
	alice.post("/tweets/follow/dave", nil).want(t, http.StatusTooManyRequests, "too many follows from your account")
	if n := s.rdb.ZCard(ctx, "following:4").Val(); n != 2 {
		t.Errorf("alice follows %d users; want the 2 allowed", n)
	}
}

// TestSettingsPagesFollowLists: the settings page shows 100 names of each
// list at a time, newest follow first, with the whole count and links to
// the other pages of each list.
func TestSettingsPagesFollowLists(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	ctx := t.Context()
	aliceID := s.rdb.HGet(ctx, "users", "alice").Val()
	// 250 users who follow alice, the way pytwis stores them.
	for i := range 250 {
		id := strconv.Itoa(100 + i)
		s.rdb.HSet(ctx, "users", "fan"+id, id)
		s.rdb.HSet(ctx, "user:"+id, "username", "fan"+id)
		s.rdb.ZAdd(ctx, "follower:"+aliceID, redis.Z{Score: float64(1000 + i), Member: id})
	}
	p := b.get("/auth/user_settings")
	p.want(t, 200, "Followed by <span class=\"count\">(250)</span>", "fan349", "fan250", `href="/auth/user_settings?followers=2#followers"`)
	if strings.Contains(p.body, "fan249<") || strings.Count(p.body, `href="/tweets/user_history/fan`) != 100 {
		t.Errorf("the first page of followers is not the 100 newest")
	}
	p = b.get("/auth/user_settings?followers=3")
	p.want(t, 200, "fan149", "fan100", `href="/auth/user_settings?followers=2#followers"`)
	if strings.Count(p.body, `href="/tweets/user_history/fan`) != 50 || strings.Contains(p.body, "followers=4") {
		t.Errorf("the last page of followers holds the 50 oldest, with no link further")
	}
	// A page after the last says so, and leads back to the last.
	p = b.get("/auth/user_settings?followers=9")
	p.want(t, 200, "Page 9 is past the end of this list.", `<a rel="prev" href="/auth/user_settings?followers=3#followers">`)
	if _, followers, _ := strings.Cut(p.body, `id="followers"`); strings.Contains(followers, "Nobody yet.") {
		t.Error("a page after the last of 250 followers says there are none")
	}
	b.get("/auth/user_settings?following=x").want(t, http.StatusBadRequest, "The page number must be")
}

func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "a second"}, {500 * time.Millisecond, "a second"}, {time.Second, "a second"},
		{1200 * time.Millisecond, "2 seconds"}, {59 * time.Second, "59 seconds"},
		{time.Minute, "a minute"}, {61 * time.Second, "2 minutes"}, {7 * time.Minute, "7 minutes"},
	} {
		if got := humanDuration(c.d); got != c.want {
			t.Errorf("humanDuration(%v) = %q; want %q", c.d, got, c.want)
		}
	}
}
