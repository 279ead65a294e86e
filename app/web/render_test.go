package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
	"pytwask/assets"
)

// TestFramesMatchTemplates renders pages that differ in one value each,
// twice over so that the second round comes from the kept frames, and
// checks that every one is the page its template gives. A value a page
// shows but its frame key lacks would show the previous page's value.
func TestFramesMatchTemplates(t *testing.T) {
	rd, err := newRenderer(assets.FS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tweetsHTML := newTweetHTML(100)
	list := func(n int) *tweetList {
		tweets := make([]store.Tweet, n)
		for i := range tweets {
			tweets[i] = store.Tweet{ID: fmt.Sprint(n*100 + i), UserID: "7", Username: "carol",
				Time: now.Add(-time.Duration(i) * time.Hour), Body: fmt.Sprintf("tweet %d of %d <b>", i, n)}
		}
		return tweetsHTML.list(tweets, now)
	}
	alice := &store.Viewer{ID: "1", Username: "alice", Followers: 3, Following: 4}
	alice2 := &store.Viewer{ID: "1", Username: "alice", Followers: 5, Following: 4}
	bob := &store.Viewer{ID: "2", Username: "bob", Followers: 3, Following: 4}
	carol := func(followers int64, follows bool) *store.UserPage {
		return &store.UserPage{ID: "7", Username: "carol", Followers: followers, Following: 2, ViewerFollows: follows}
	}
	general := func(v *store.Viewer, tweets int, p pager) *timelinePage {
		return &timelinePage{layout: layout{Title: "Recent Timeline", Viewer: v}, Heading: "Recent Timeline", Tweets: list(tweets), Pager: p}
	}
	own := func(v *store.Viewer, f *postForm, tweets int, p pager) *timelinePage {
		return &timelinePage{layout: layout{Title: "Your Timeline", Viewer: v}, Heading: "Your Timeline", PostForm: f, Tweets: list(tweets), Pager: p}
	}
	user := func(v *store.Viewer, u *store.UserPage, canFollow bool, tweets int, p pager) *userHistoryPage {
		return &userHistoryPage{layout: layout{Title: u.Username, Viewer: v}, User: u, CanFollow: canFollow, Tweets: list(tweets), Pager: p}
	}
	first := pager{Older: "/tweets/general_timeline?page=2"}
	second := pager{Newer: "/tweets/general_timeline", Older: "/tweets/general_timeline?page=3"}
	last := pager{Newer: "/tweets/general_timeline?page=2"}
	withFlash := general(alice, 3, first)
	withFlash.Flashes = []flash{{flashOK, "Tweet successfully posted"}}
	ownFirst := pager{Older: "/tweets/user_timeline?page=2"}
	carolFirst := pager{Older: "/tweets/user_history/carol?page=2"}
	cases := []struct {
		name string
		page string
		data framed
		// frame: "new" for a frame of its own, "shared" for the previous
		// case's, "" for a page rendered whole.
		frame string
	}{
		{"general, anonymous", "timeline", general(nil, 3, first), "new"},
		{"general, alice", "timeline", general(alice, 3, first), "new"},
		{"general, alice's counts changed", "timeline", general(alice2, 3, first), "new"},
		{"general, bob", "timeline", general(bob, 3, first), "new"},
		{"general, other tweets", "timeline", general(bob, 5, first), "shared"},
		{"general, page 2", "timeline", general(bob, 5, second), "new"},
		{"general, last page", "timeline", general(bob, 5, last), "new"},
		{"general, a heading of its own", "timeline", &timelinePage{layout: layout{Title: "Recent Timeline", Viewer: bob}, Heading: "Other", Tweets: list(5), Pager: last}, "new"},
		{"own", "timeline", own(alice, &postForm{}, 3, ownFirst), "new"},
		{"own, no form", "timeline", own(alice, nil, 3, ownFirst), "new"},
		{"own, a refused post", "timeline", own(alice, &postForm{Body: "<i>x", Error: "Too long."}, 3, ownFirst), ""},
		{"own, empty", "timeline", own(alice, &postForm{}, 0, pager{}), ""},
		{"general, a flash", "timeline", withFlash, ""},
		{"carol, anonymous", "user_history", user(nil, carol(9, false), false, 3, carolFirst), "new"},
		{"carol, alice may follow", "user_history", user(alice, carol(9, false), true, 3, carolFirst), "new"},
		{"carol, alice follows", "user_history", user(alice, carol(10, true), true, 3, carolFirst), "new"},
		{"carol, alice no longer follows", "user_history", user(alice, carol(10, false), true, 3, carolFirst), "new"},
		{"carol, followers changed", "user_history", user(alice, carol(11, true), true, 3, carolFirst), "new"},
		{"carol, as herself", "user_history", user(&store.Viewer{ID: "7", Username: "carol"}, carol(11, false), false, 3, carolFirst), "new"},
		{"carol, no more pages", "user_history", user(alice, carol(11, true), true, 3, pager{}), "new"},
		{"carol, no follow form", "user_history", user(alice, carol(11, true), false, 3, pager{}), "new"},
		{"dave's page under carol's title", "user_history", &userHistoryPage{layout: layout{Title: "carol", Viewer: alice},
			User: &store.UserPage{ID: "8", Username: "dave", Followers: 11, Following: 2, ViewerFollows: true}, Tweets: list(3)}, "new"},
		{"carol, no tweets", "user_history", user(alice, carol(11, true), true, 0, pager{}), ""},
	}
	for _, c := range cases {
		c.data.base().Assets = &assetURLs{CSS: "/static/site.css", Icon: "/static/icon.svg"}
	}
	for round := range 2 {
		for _, c := range cases {
			kept := rd.frames.Len()
			buf, err := rd.execute(c.page, c.data)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got := buf.String()
			rd.release(buf)
			whole, err := rd.executeWhole(c.page, c.data)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if want := whole.String(); got != want {
				t.Errorf("round %d, %s: the page from its frame differs from the template's:\n%s\nwant:\n%s", round+1, c.name, got, want)
			}
			rd.release(whole)
			if _, _, ok := frameOf(c.page, c.data); ok != (c.frame != "") {
				t.Errorf("%s: framed = %v; want %v", c.name, ok, !ok)
			}
			want := 0
			if round == 0 && c.frame == "new" {
				want = 1
			}
			if added := rd.frames.Len() - kept; added != want {
				t.Errorf("round %d, %s: %d more frames kept; want %d", round+1, c.name, added, want)
			}
			if !c.data.list().empty() && !strings.Contains(got, "tweet 0 of") {
				t.Errorf("%s: the page lacks its tweets:\n%s", c.name, got)
			}
		}
	}
}
