package web

import (
	"fmt"
	"testing"
)

// aliceSignedUp returns a site, whose store counts its Redis round trips,
// and a browser that signed alice up.
func aliceSignedUp(t *testing.T) (*site, *browser) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	return s, b
}

// TestRoundTripsPerPage: a page (a timeline, a user's tweets, a tweet's
// conversation, a tag) costs at most two Redis round trips, the list then
// its tweets' counts (with the tweets themselves when they are not cached
// in process), whether its list holds 60 tweets or 1,200, and on any page
// of it.
func TestRoundTripsPerPage(t *testing.T) {
	s, b := aliceSignedUp(t)
	b.signUp("bob", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	b.post("/tweets/follow/bob", nil)
	anon := s.browser()
	ctx := t.Context()
	post := func(user string, n int) {
		for i := range n {
			if _, err := s.store.Post(ctx, user, fmt.Sprintf("tweet %d #tagged", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cost := func(br *browser, path string) int64 {
		before := s.store.RoundTrips()
		br.get(path).want(t, 200)
		return s.store.RoundTrips() - before
	}
	pages := []struct {
		br   *browser
		path string
	}{
		{anon, "/tweets/general_timeline"},
		{anon, "/tweets/general_timeline?page=3"},
		{b, "/tweets/general_timeline?page=2"},
		{b, "/tweets/user_timeline"},
		{b, "/tweets/user_timeline?page=3"},
		{b, "/tweets/user_history/bob"},
		{b, "/tweets/user_history/bob?page=2"},
		{anon, "/tweets/1"},
		{b, "/tweets/1?page=2"},
		{b, "/tags/tagged"},
		{anon, "/tags/tagged?page=3"},
	}
	secret, err := s.store.Login(ctx, "", "alice", "Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	post("1", 1)
	// Load the scripts into Redis and open the pool's connections: neither
	// is a cost of a page.
	b.get("/tweets/general_timeline")
	anon.get("/tweets/general_timeline")
	anon.get("/tweets/1")
	anon.get("/tweets/1")
	b.get("/tweets/1")
	for _, size := range []int{30, 600} {
		post("1", size)
		post("2", size)
		for i := range size {
			if _, err := s.store.Reply(ctx, secret, "1", fmt.Sprintf("reply %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range pages {
			cold := cost(p.br, p.path)
			warm := cost(p.br, p.path)
			if cold > 2 || warm > 2 {
				t.Errorf("%d tweets each: %s cost %d round trips, then %d once cached; want at most 2", size, p.path, cold, warm)
			}
		}
	}
}

// A post through the form costs one Redis round trip, and one more to tell
// open pages of it (its live events, in one pipeline): the post script
// checks the session's secret itself. A session signed out elsewhere posts
// nothing; the form sends its visitor to sign in.
func TestPostChecksTheSession(t *testing.T) {
	s, b := aliceSignedUp(t)
	b.signIn("alice", "Passw0rd!", false)
	other := s.browser() // a second session of alice's, on another device
	other.signIn("alice", "Passw0rd!", false)
	b.post("/tweets/user_timeline", form("tweet", "first")) // loads the script into Redis
	before := s.store.RoundTrips()
	b.post("/tweets/user_timeline", form("tweet", "second")).wantRedirect(t, "/tweets/user_timeline")
	if n := s.store.RoundTrips() - before; n != 2 {
		t.Errorf("a post cost %d round trips; want 2", n)
	}

	b.post("/auth/signout", nil)
	other.post("/tweets/user_timeline", form("tweet", "third")).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	if n := s.rdb.LLen(t.Context(), "tweets_by:1").Val(); n != 2 {
		t.Errorf("alice has %d tweets; want the 2 posted while signed in", n)
	}
	other.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
}
