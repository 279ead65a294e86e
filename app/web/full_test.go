package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/store"
)

// refusal is a way Redis comes to refuse writes, and to take them again.
type refusal struct {
	name          string
	refuse, allow func(t *testing.T, s *site)
	// removals: whether Redis still takes a write that only removes.
	removals bool
}

var refusals = []refusal{
	// At its maxmemory with nothing it may evict, as
	// ops/redis/pytwask-redis.conf has it.
	{"full", func(t *testing.T, s *site) { configSet(t, s, "maxmemory", "1") },
		func(t *testing.T, s *site) { configSet(t, s, "maxmemory", "0") }, true},
	// Unable to save to disk.
	{"cannot save", func(t *testing.T, s *site) { s.redis.BlockSaving() },
		func(t *testing.T, s *site) { s.redis.AllowSaving() }, false},
}

func configSet(t *testing.T, s *site, key, value string) {
	t.Helper()
	if err := s.rdb.ConfigSet(context.Background(), key, value).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRefusingWrites: a Redis that is full, or cannot save to disk,
// refuses writes. Every page still shows what it showed. Every change
// answers a 503 that says why and changes nothing, but for a removal where
// Redis takes it, which is then done whole. Once Redis takes writes again,
// the site saves again by itself.
func TestRedisRefusingWrites(t *testing.T) {
	for _, way := range refusals {
		t.Run(way.name, func(t *testing.T) { testRefusingWrites(t, way) })
	}
}

func testRefusingWrites(t *testing.T, way refusal) {
	s := newSite(t)
	if s.redis.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in neither fills up nor saves")
	}
	s.srv.Close()
	s.srv = httptest.NewServer(s.handler(Options{
		Limits:     Limits{SignInPerClient: store.Limit{Max: 100, Window: time.Minute}},
		EditWindow: store.DefaultEditWindow,
	}))
	t.Cleanup(s.srv.Close)
	bs := s.signedIn("ann", "bob", "cat")
	ann, bob, cat, anon := bs[0], bs[1], bs[2], s.browser()
	annElsewhere := s.browser()
	annElsewhere.signIn("ann", "Passw0rd!", false)
	ann.post("/tweets/user_timeline", form("tweet", "hello #tag @bob")).want(t, 303)
	bob.post("/tweets/follow/ann", nil).want(t, 303)
	cat.post("/tweets/follow/bob", nil).want(t, 303)
	bob.post("/tweets/reply/1", form("tweet", "hi ann")).want(t, 303)
	bob.post("/tweets/like/1", nil).want(t, 303)
	bob.post("/tweets/like/2", nil).want(t, 303)
	bob.post("/tweets/repost/1", nil).want(t, 303)
	if _, err := s.store.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		b     *browser
		path  string
		texts []string
	}{
		{anon, "/tweets/general_timeline", []string{"hello", "hi ann"}},
		{ann, "/tweets/general_timeline", []string{"hello", "hi ann"}},
		{bob, "/tweets/user_timeline", []string{"hi ann"}},
		{anon, "/tweets/user_history/ann", []string{"hello", "1 like", "1 repost"}},
		{cat, "/tweets/user_timeline", []string{"bob</a> reposted", "hello"}},
		{ann, "/tweets/1", []string{"hello", "hi ann", "1 reply"}},
		{anon, "/tags/tag", []string{"hello"}},
		{ann, "/search?q=hello", []string{`href="/tweets/1"`}},
		{ann, "/notifications", []string{"bob</a> followed you", "bob</a> replied to your tweet", "bob</a> liked your tweet"}},
		{ann, "/auth/user_settings", []string{"Change password"}},
		{ann, "/tweets/edit/1", []string{"hello"}},
		{ann, "/tweets/delete/1", []string{"hello"}},
	}
	for _, p := range pages {
		p.b.get(p.path).want(t, 200, p.texts...)
	}

	way.refuse(t, s)
	for _, p := range pages {
		p.b.get(p.path).want(t, 200, p.texts...)
	}
	// Still ready: reads work, and every instance is in the same state.
	anon.get("/readyz").want(t, 200, "ready")
	// A sign-in is checked against its limit, which is a count Redis
	// keeps: refused.
	signIn := form("username", "ann", "password", "Passw0rd!")
	refused := []struct {
		b    *browser
		path string
		form []string
	}{
		{ann, "/tweets/user_timeline", []string{"tweet", "new"}},
		{bob, "/tweets/reply/1", []string{"tweet", "new reply"}},
		{ann, "/tweets/like/2", nil},
		{bob, "/tweets/unlike/1", nil},
		{bob, "/tweets/unrepost/1", nil},
		{ann, "/tweets/repost/2", nil},
		{ann, "/tweets/follow/bob", nil},
		{ann, "/tweets/edit/1", []string{"tweet", "edited #x"}},
		{bob, "/tweets/delete/2", nil},
		{ann, "/auth/user_settings", []string{"old_password", "Passw0rd!", "new_password", "Passw0rd!2", "new_password2", "Passw0rd!2"}},
		{ann, "/auth/signout_others", nil},
		{bob, "/auth/delete_account", []string{"password", "Passw0rd!"}},
		{s.browser(), "/auth/signup", []string{"username", "dan", "password", "Passw0rd!", "password2", "Passw0rd!"}},
		{s.browser(), "/auth/", []string{"username", "ann", "password", "Passw0rd!"}},
	}
	if !way.removals {
		refused = append(refused, refused[0])
		refused[len(refused)-1].b, refused[len(refused)-1].path, refused[len(refused)-1].form = bob, "/tweets/unfollow/ann", nil
	}
	for _, c := range refused {
		before := snapshot(t, s.rdb)
		p := c.b.post(c.path, form(c.form...))
		p.want(t, http.StatusServiceUnavailable, "The site cannot save anything right now. Reading still works")
		if p.header.Get("Retry-After") == "" {
			t.Errorf("POST %s: 503 without Retry-After", c.path)
		}
		diffSnapshots(t, "POST "+c.path, snapshot(t, s.rdb), before)
	}
	// Still signed in, with the old password.
	ann.get("/tweets/user_timeline").want(t, 200, "hello")

	// A sign-out cannot end the sessions elsewhere, but ends this one.
	before := snapshot(t, s.rdb)
	annElsewhere.follow(annElsewhere.post("/auth/signout", nil)).want(t, 200,
		"Logged out of this browser. The site could not end your sessions elsewhere just now")
	annElsewhere.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	diffSnapshots(t, "POST /auth/signout", snapshot(t, s.rdb), before)
	ann.get("/tweets/user_timeline").want(t, 200, "hello")

	if way.removals {
		// An unfollow only removes: Redis takes it, and it is done whole,
		// its notice taken back too.
		bob.post("/tweets/unfollow/ann", nil).want(t, 303)
		ann.get("/notifications").want(t, 200, "bob</a> replied to your tweet")
		if p := ann.get("/notifications"); strings.Contains(p.body, "followed you") {
			t.Error("the notice of an unfollowed follow is still there")
		}
		ann.get("/tweets/user_history/ann").want(t, 200, `<strong class="followers-count">0</strong> followers`)
	}

	way.allow(t, s)
	s.browser().post("/auth/", signIn).wantRedirect(t, "/tweets/user_timeline")
	ann.post("/tweets/user_timeline", form("tweet", "room again")).want(t, 303)
	anon.get("/tweets/general_timeline").want(t, 200, "room again")
}

// TestRedisRefusingThePassword: a Redis that refuses the site's password
// (changed under it, as an operator rotating it does before the site's
// setting) answers every page and change with a 503 and changes nothing;
// the log tells the operator at error level. With the password right
// again, the site serves by itself.
func TestRedisRefusingThePassword(t *testing.T) {
	var logs strings.Builder
	s := newSite(t)
	if s.redis.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in's password is set at its start")
	}
	s.srv.Close()
	s.srv = httptest.NewServer(s.handler(Options{Logger: newTestLogger(&logs), EditWindow: store.DefaultEditWindow}))
	t.Cleanup(s.srv.Close)
	bs := s.signedIn("ann", "bob")
	ann, bob, anon := bs[0], bs[1], s.browser()
	ann.post("/tweets/user_timeline", form("tweet", "hello #tag")).want(t, 303)
	bob.post("/tweets/like/1", nil).want(t, 303)
	pages := []struct {
		b          *browser
		path, text string
	}{
		{anon, "/tweets/general_timeline", "hello"},
		{anon, "/tweets/user_history/ann", "hello"},
		{anon, "/tweets/1", "hello"},
		{anon, "/tags/tag", "hello"},
		{ann, "/tweets/general_timeline", "hello"},
		{ann, "/tweets/user_timeline", "hello"},
		{ann, "/notifications", "bob</a> liked your tweet"},
		{ann, "/search?q=hello", "hello"},
	}
	for _, p := range pages {
		p.b.get(p.path).want(t, 200, p.text)
	}

	ctx := context.Background()
	opts := s.redis.Options()
	opts.Password = "rotated"
	admin := redis.NewClient(opts)
	defer admin.Close()
	setPassword := func(pw string) {
		t.Helper()
		c := redis.NewClient(s.redis.Options())
		if pw == s.redis.Password {
			c = redis.NewClient(opts)
		}
		defer c.Close()
		if err := c.ConfigSet(ctx, "requirepass", pw).Err(); err != nil {
			t.Fatal(err)
		}
		// Connections signed in before keep their access: the site's are
		// closed, as a restart of Redis would.
		if err := c.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
	}
	setPassword("rotated")
	before := snapshot(t, admin)
	for _, p := range pages {
		p.b.get(p.path).want(t, http.StatusServiceUnavailable, "The site cannot reach its database right now")
	}
	for _, c := range []struct {
		b    *browser
		path string
		form []string
	}{
		{ann, "/tweets/user_timeline", []string{"tweet", "never saved"}},
		{bob, "/tweets/unlike/1", nil},
		{bob, "/tweets/follow/ann", nil},
		{s.browser(), "/auth/signup", []string{"username", "cat", "password", "Passw0rd!", "password2", "Passw0rd!"}},
	} {
		p := c.b.post(c.path, form(c.form...))
		p.want(t, http.StatusServiceUnavailable, "The site cannot reach its database right now")
		if p.header.Get("Retry-After") == "" {
			t.Errorf("POST %s: 503 without Retry-After", c.path)
		}
	}
	diffSnapshots(t, "while the password was refused", snapshot(t, admin), before)
	anon.get("/readyz").want(t, http.StatusServiceUnavailable)
	if got := logs.String(); !strings.Contains(got, `level=ERROR msg="redis refuses pytwask's password`) {
		t.Errorf("the log does not say Redis refuses the password:\n%s", got)
	}

	setPassword(s.redis.Password)
	for _, p := range pages {
		p.b.get(p.path).want(t, 200, p.text)
	}
	ann.post("/tweets/user_timeline", form("tweet", "saved again")).want(t, 303)
}

// TestRedisPastMaxclients: a Redis that takes no more connections (past
// its maxclients, which an operator sets below what every instance
// together holds) refuses each new one with an error before closing it.
// Pages that need one answer 503, none an empty page; the site serves
// again once Redis takes connections.
func TestRedisPastMaxclients(t *testing.T) {
	s := newSite(t)
	if s.redis.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in has no maxclients")
	}
	ann := s.signedIn("ann")[0]
	ann.post("/tweets/user_timeline", form("tweet", "hello")).want(t, 303)
	anon := s.browser()
	paths := []string{"/tweets/general_timeline", "/tweets/user_history/ann", "/tweets/1"}
	for _, path := range paths {
		anon.get(path).want(t, 200, "hello")
	}
	ctx := context.Background()
	admin := redis.NewClient(s.redis.Options())
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "maxclients", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer admin.ConfigSet(ctx, "maxclients", "10000")
	if err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, path := range paths {
			anon.get(path).want(t, http.StatusServiceUnavailable, "The database is not answering right now")
		}
		ann.get("/tweets/user_timeline").want(t, http.StatusServiceUnavailable, "The database is not answering right now")
	}
	if err := admin.ConfigSet(ctx, "maxclients", "10000").Err(); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		anon.get(path).want(t, 200, "hello")
	}
}
