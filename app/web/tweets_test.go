package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
)

func TestPostTweet(t *testing.T) {
	s := newSite(t)
	b := s.signedIn("alice")[0]
	b.get("/tweets/user_timeline").want(t, 200, `<textarea id="tweet" name="tweet"`, "No tweets here yet.")

	p := b.post("/tweets/user_timeline", form("tweet", "<script>alert(1)</script>"))
	p.wantRedirect(t, "/tweets/user_timeline")
	page := b.follow(p)
	page.want(t, 200, "Tweet successfully posted", "&lt;script&gt;alert(1)&lt;/script&gt;")
	if strings.Contains(page.body, "<script>alert(1)") {
		t.Fatal("the tweet's HTML was not escaped")
	}

	b.post("/tweets/user_timeline", form("tweet", "line one\r\nline two\r\n\r\nline four")).wantRedirect(t, "/tweets/user_timeline")
	s.setNow(time.Now().Add(3 * time.Minute))
	tweets := b.get("/tweets/user_timeline").tweets(t)
	if len(tweets) != 2 {
		t.Fatalf("timeline shows %d tweets; want 2", len(tweets))
	}
	got := tweets[0]
	if got.Author != "alice" || got.Body != "line one\nline two\n\nline four" || got.Ago != "3 minutes ago" {
		t.Errorf("newest tweet shows as %+v", got)
	}
	if _, err := time.Parse(time.RFC3339, got.Datetime); err != nil || !strings.HasSuffix(got.Title, "UTC") {
		t.Errorf("time element: datetime %q title %q", got.Datetime, got.Title)
	}
	if tweets[1].Body != "<script>alert(1)</script>" {
		t.Errorf("older tweet shows as %q", tweets[1].Body)
	}

	// Refusals keep what was typed and write nothing.
	keys := s.rdb.DBSize(t.Context()).Val()
	for _, c := range []struct{ body, want string }{
		{strings.Repeat("é", 281), "The tweet is 281 characters long; the limit is 280."},
		{"   \r\n  ", "The tweet is empty."},
		{"bell\a", "The tweet contains a control character."},
	} {
		p := b.post("/tweets/user_timeline", form("tweet", c.body))
		p.want(t, http.StatusUnprocessableEntity, c.want, "<textarea")
		if c.body[0] == 0xc3 && !strings.Contains(p.body, c.body) {
			t.Error("the refused tweet was not kept in the form")
		}
	}
	if after := s.rdb.DBSize(t.Context()).Val(); after != keys {
		t.Errorf("refused tweets changed the key count from %d to %d", keys, after)
	}
	b.post("/tweets/user_timeline", form("tweet", strings.Repeat("😀", 280))).wantRedirect(t, "/tweets/user_timeline")
}

func TestFollowAndUnfollow(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	bob.post("/tweets/user_timeline", form("tweet", "before the follow")).wantRedirect(t, "/tweets/user_timeline")

	s.browser().get("/tweets/user_history/bob").want(t, 200, "before the follow")
	if strings.Contains(s.browser().get("/tweets/user_history/bob").body, "/tweets/follow/bob") {
		t.Error("an anonymous visitor is offered a Follow button")
	}
	if strings.Contains(bob.get("/tweets/user_history/bob").body, "/tweets/follow/bob") {
		t.Error("bob is offered to follow himself")
	}
	alice.get("/tweets/user_history/bob").want(t, 200, `action="/tweets/follow/bob"`, ">Follow</button>")

	// The page top (kept rendered per viewer) follows the counts.
	alice.get("/tweets/user_timeline").want(t, 200, `<strong class="following-count">0</strong> following`)
	p := alice.post("/tweets/follow/bob", nil)
	p.wantRedirect(t, "/tweets/user_history/bob")
	page := alice.follow(p)
	page.want(t, 200, "Followed bob", `action="/tweets/unfollow/bob"`, ">Unfollow</button>",
		`<strong class="following-count">1</strong> following`)
	bob.get("/tweets/user_timeline").want(t, 200, `<strong class="followers-count">1</strong> follower</a>`)
	alice.get("/tweets/user_history/bob").want(t, 200, `<strong>1</strong> follower ·`)
	alice.get("/auth/user_settings").want(t, 200, `<a href="/tweets/user_history/bob">bob</a>`)
	bob.get("/auth/user_settings").want(t, 200, `<a href="/tweets/user_history/alice">alice</a>`)

	// Fan-out: bob's new tweet reaches alice's timeline; the old one does not.
	bob.post("/tweets/user_timeline", form("tweet", "after the follow")).wantRedirect(t, "/tweets/user_timeline")
	tl := alice.get("/tweets/user_timeline").tweets(t)
	if len(tl) != 1 || tl[0].Body != "after the follow" || tl[0].Author != "bob" {
		t.Errorf("alice's timeline = %+v", tl)
	}

	p = alice.post("/tweets/unfollow/bob", nil)
	p.wantRedirect(t, "/tweets/user_history/bob")
	alice.follow(p).want(t, 200, "Unfollowed bob", ">Follow</button>")
	alice.get("/tweets/user_timeline").want(t, 200, `<strong class="following-count">0</strong> following`)
	bob.get("/tweets/user_timeline").want(t, 200, `<strong class="followers-count">0</strong> followers</a>`)
	alice.get("/tweets/user_history/bob").want(t, 200, `<strong>0</strong> followers ·`)
	if n := s.rdb.ZCard(t.Context(), "follower:2").Val(); n != 0 {
		t.Errorf("follower:2 has %d members after unfollow", n)
	}

	alice.post("/tweets/follow/nobody", nil).want(t, http.StatusNotFound, "Followee nobody doesn&#39;t exist")
	alice.post("/tweets/follow/alice", nil).want(t, http.StatusBadRequest, "Can&#39;t follow yourself alice")
	alice.get("/tweets/user_history/nobody").want(t, http.StatusNotFound, "username nobody doesn&#39;t exist", `class="site"`)
}

// A user's page typed with another case leads to the user, as a mention of
// that name does; a name of nobody, or of a deleted account, is a 404.
func TestUserPageInAnotherCase(t *testing.T) {
	s := newSite(t)
	bob := s.signedIn("alice", "BoB")[1]
	anon := s.browser()
	for _, c := range []struct{ path, to string }{
		{"/tweets/user_history/bob", "/tweets/user_history/BoB"},
		{"/tweets/user_history/BOB?page=2", "/tweets/user_history/BoB?page=2"},
		{"/tweets/user_history/ALICE", "/tweets/user_history/alice"},
	} {
		anon.get(c.path).wantRedirect(t, c.to)
	}
	anon.get("/tweets/user_history/BoB").want(t, 200, "<h1>BoB</h1>")
	anon.get("/tweets/user_history/bobby").want(t, http.StatusNotFound, "username bobby doesn&#39;t exist")

	bob.post("/auth/delete_account", form("password", "Passw0rd!")).wantRedirect(t, "/auth/")
	anon.get("/tweets/user_history/bob").want(t, http.StatusNotFound, "username bob doesn&#39;t exist")

	// An account whose deletion was cut short after its first step: out of
	// users, its folded name not yet released.
	ctx := t.Context()
	s.signedIn("Carol")
	id := s.rdb.HGet(ctx, "users", "Carol").Val()
	s.rdb.HSet(ctx, "user:"+id, "pytwask_deleted", time.Now().Unix())
	s.rdb.HDel(ctx, "users", "Carol")
	for _, name := range []string{"Carol", "carol"} {
		anon.get("/tweets/user_history/"+name).want(t, http.StatusNotFound, "username "+name+" doesn&#39;t exist")
	}
}

func TestTimelinePaging(t *testing.T) {
	s := newSite(t)
	b := s.signedIn("alice")[0]
	ctx := t.Context()
	v, err := s.store.Authenticate(ctx, s.rdb.HGet(ctx, "user:1", "auth").Val())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2*pageSize+10; i++ {
		if _, err := s.store.Post(ctx, v.ID, fmt.Sprintf("tweet %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/tweets/general_timeline", "/tweets/user_timeline", "/tweets/user_history/alice"} {
		t.Run(path, func(t *testing.T) {
			cases := []struct {
				query        string
				first, last  string
				count        int
				newer, older string
			}{
				{"", "tweet 50", "tweet 31", pageSize, "", path + "?page=2"},
				{"?page=2", "tweet 30", "tweet 11", pageSize, path, path + "?page=3"},
				{"?page=3", "tweet 10", "tweet 1", 10, path + "?page=2", ""},
			}
			for _, c := range cases {
				p := b.get(path + c.query)
				p.want(t, 200)
				tw := p.tweets(t)
				if len(tw) != c.count || tw[0].Body != c.first || tw[len(tw)-1].Body != c.last {
					t.Errorf("%s: %d tweets from %q to %q", c.query, len(tw), tw[0].Body, tw[len(tw)-1].Body)
				}
				if hasLink(p.body, "prev", c.newer) != (c.newer != "") || hasLink(p.body, "next", c.older) != (c.older != "") {
					t.Errorf("%s: pager links wrong; want newer %q older %q", c.query, c.newer, c.older)
				}
			}
			for _, bad := range []string{"?page=0", "?page=-1", "?page=x", "?page=99999999999"} {
				b.get(path+bad).want(t, http.StatusBadRequest, "The page number must be a whole number")
			}
			// A page after the last, from a stale link or a guess, says so
			// rather than showing an empty list whose "Newer" leads to
			// another empty page.
			b.get(path+"?page=4").want(t, http.StatusNotFound, "Page 4 is past the end of this list.")
		})
	}
}

func hasLink(body, rel, href string) bool {
	if href == "" {
		return strings.Contains(body, `rel="`+rel+`"`)
	}
	return strings.Contains(body, `<a rel="`+rel+`" href="`+href+`">`)
}

// TestTweetPageAndReplies: every tweet links to its page by its time; the
// page shows the conversation and, signed in, a reply form; a reply says
// whom it answers, shows under the tweet and on the timelines; a tweet that
// does not exist is a 404, and a reply to one changes nothing.
func TestTweetPageAndReplies(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	alice.post("/tweets/user_timeline", form("tweet", "what is <b>up</b>?")).wantRedirect(t, "/tweets/user_timeline")
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()

	// The time of each tweet in a list is the link to its page.
	general := s.browser().get("/tweets/general_timeline")
	general.want(t, 200, `<a class="permalink" href="/tweets/`+id+`"><time`)

	// Anyone sees the page; only the signed-in get the form.
	anon := s.browser().get("/tweets/" + id)
	anon.want(t, 200, "what is &lt;b&gt;up&lt;/b&gt;?", "0 replies")
	if strings.Contains(anon.body, `action="/tweets/reply/`) {
		t.Error("a reply form for nobody signed in")
	}
	bob.get("/tweets/"+id).want(t, 200, `<form method="post" action="/tweets/reply/`+id+`"`)

	bob.post("/tweets/reply/"+id, form("tweet", "not much")).wantRedirect(t, "/tweets/"+id)
	reply := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	page := bob.get("/tweets/" + id)
	page.want(t, 200, "Reply posted", "1 reply", "not much")
	// The reply's own page: the tweet it answers above it.
	rp := s.browser().get("/tweets/" + reply)
	rp.want(t, 200, `Replying to <a href="/tweets/`+id+`">@alice</a>`)
	if strings.Index(rp.body, "what is &lt;b&gt;up") > strings.Index(rp.body, `class="tweets focus"`) {
		t.Error("the tweet replied to is not above the reply")
	}
	// On the timelines like any tweet.
	s.browser().get("/tweets/general_timeline").want(t, 200, "not much", "Replying to")

	// Refusals: an empty reply shows the form again; no such tweet is a 404.
	bob.post("/tweets/reply/"+id, form("tweet", "  ")).want(t, 422, "The tweet is empty.")
	before := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	for _, path := range []string{"/tweets/reply/999999", "/tweets/reply/abc"} {
		// The text is not lost: it waits in the timeline's post form.
		bob.post(path, form("tweet", "hello <b>?")).want(t, 404, "The tweet you replied to is not there any more",
			`action="/tweets/user_timeline"`, ">hello &lt;b&gt;?</textarea>")
	}
	if after := s.rdb.Get(t.Context(), "next_tweet_id").Val(); after != before {
		t.Errorf("refused replies moved next_tweet_id from %s to %s", before, after)
	}
	for _, path := range []string{"/tweets/999999", "/tweets/abc", "/tweets/1x"} {
		s.browser().get(path).want(t, 404)
	}
	s.browser().get("/tweets/"+id+"?page=2").want(t, 404, "Page 2 is past the end of this list.")
	// Signed out, a reply asks to sign in and writes nothing.
	s.browser().post("/tweets/reply/"+id, form("tweet", "anon")).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	if after := s.rdb.Get(t.Context(), "next_tweet_id").Val(); after != before {
		t.Errorf("a signed-out reply moved next_tweet_id from %s to %s", before, after)
	}
}

// TestMentionsTagsAndLinks: @names of users link to their pages, other
// @text stays text; #tags link to their page (folded), which lists the
// tweets newest first; http(s) URLs link with rel="nofollow noopener ugc";
// hostile text in any position is shown as text.
func TestMentionsTagsAndLinks(t *testing.T) {
	s := newSite(t)
	alice, bob := s.browser(), s.browser()
	alice.signUp("alice", "Passw0rd!")
	bob.signUp("Bob_2", "Passw0rd!")
	alice.signIn("alice", "Passw0rd!", false)
	for _, body := range []string{
		"hi @bob_2 and @nobody, see https://example.com/x?a=1&b=2 #GoLang",
		`@<script>alert(1)</script> #"quoted" http://x.org/"onmouseover="y javascript:alert(2) #日本`,
		"again #golang",
	} {
		alice.post("/tweets/user_timeline", form("tweet", body)).wantRedirect(t, "/tweets/user_timeline")
	}
	page := s.browser().get("/tweets/general_timeline")
	page.want(t, 200,
		`hi <a href="/tweets/user_history/Bob_2">@bob_2</a> and @nobody, see <a href="https://example.com/x?a=1&amp;b=2" rel="nofollow noopener ugc">https://example.com/x?a=1&amp;b=2</a> <a href="/tags/golang">#GoLang</a>`,
		`@&lt;script&gt;alert(1)&lt;/script&gt; #&#34;quoted&#34; <a href="http://x.org/" rel="nofollow noopener ugc">http://x.org/</a>&#34;onmouseover=&#34;y javascript:alert(2) <a href="/tags/%E6%97%A5%E6%9C%AC">#日本</a>`,
	)
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, `href="javascript`) {
		t.Error("hostile text became markup")
	}

	tag := s.browser().get("/tags/GOLANG")
	tag.want(t, 200, "<h1>#golang</h1>", `again <a href="/tags/golang">#golang</a>`, "hi ")
	if strings.Index(tag.body, "again") > strings.Index(tag.body, "hi ") {
		t.Error("the tag page is not newest first")
	}
	s.browser().get("/tags/nobody_used_this").want(t, 200, "<h1>#nobody_used_this</h1>", "No tweets here yet.")
	s.browser().get("/tags/golang?page=2").want(t, 404, "Page 2 is past the end of this list.")
	// What no tweet can tag is no tag: a clear 404, not an empty page.
	for _, bad := range []string{strings.Repeat("x", 200), "a%20b", "nobody-used-this", "%00", "%3Cscript%3E"} {
		s.browser().get("/tags/"+bad).want(t, 404, "There is no such tag.")
	}
}

// TestLinkPreviews: a tweet's page tells link previews (Open Graph) and
// search engines its author and text, hostile text as text; a list has no
// such tags.
func TestLinkPreviews(t *testing.T) {
	s := newSite(t)
	alice := s.signedIn("alice")[0]
	body := `"><script>alert(1)</script> & 'it' <b>`
	alice.post("/tweets/user_timeline", form("tweet", body)).wantRedirect(t, "/tweets/user_timeline")
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	const text = `&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;it&#39; &lt;b&gt;`
	page := s.browser().get("/tweets/" + id)
	page.want(t, 200,
		`<meta name="description" content="`+text+`">`,
		`<meta property="og:title" content="alice: “&#34;&gt;&lt;script&gt;alert(1)`,
		`<meta property="og:description" content="`+text+`">`,
		`<meta property="og:site_name" content="pytwask">`)
	if strings.Contains(page.body, "<script>") {
		t.Error("hostile text became markup")
	}
	if list := s.browser().get("/tweets/general_timeline"); strings.Contains(list.body, `<meta name="description"`) || strings.Contains(list.body, "og:") {
		t.Error("a list has a page's description")
	}
}

// TestMarkButtons: a signed-in user likes and reposts a tweet from a list
// (then goes back to that list, at the tweet) or from its page, once
// however often sent, and takes it back; every list shows the counts, and
// the buttons say what the viewer did; nobody signed in sees the counts
// but no button; a tweet that does not exist cannot be marked.
func TestMarkButtons(t *testing.T) {
	s := newSite(t)
	alice := s.signedIn("alice")[0]
	alice.post("/tweets/user_timeline", form("tweet", "mark this")).wantRedirect(t, "/tweets/user_timeline")
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	for _, m := range []struct {
		do, undo, done, undone, count, one, pressed, key string
	}{
		{"like", "unlike", "Liked.", "Like taken back.", "Likes", "1 like", "Liked", "pytwask:likes:{tweet:" + id + "}"},
		{"repost", "unrepost", "Reposted.", "Repost undone.", "Reposts", "1 repost", "Reposted", "pytwask:reposts:{tweet:" + id + "}"},
	} {
		t.Run(m.do, func(t *testing.T) {
			shown := func(b *browser, path string) shownTweet {
				t.Helper()
				p := b.get(path)
				p.want(t, 200)
				tw := p.tweets(t)
				if len(tw) == 0 {
					t.Fatalf("%s shows no tweet", path)
				}
				return tw[0]
			}
			count := func(tw shownTweet) string {
				return map[string]string{"Likes": tw.Likes, "Reposts": tw.Reposts}[m.count]
			}
			// From the general timeline, which it goes back to.
			alice.header.Set("Referer", s.srv.URL+"/tweets/general_timeline?page=1")
			alice.post("/tweets/"+m.do+"/"+id, nil).wantRedirect(t, "/tweets/general_timeline?page=1#tweet-"+id)
			alice.header.Del("Referer")
			alice.post("/tweets/"+m.do+"/"+id, nil).wantRedirect(t, "/tweets/"+id+"#tweet-"+id)
			for _, path := range []string{"/tweets/general_timeline", "/tweets/user_history/alice", "/tweets/" + id} {
				if tw := shown(alice, path); count(tw) != m.one || !strings.Contains(tw.Buttons, m.pressed) {
					t.Errorf("%s after a %s: %q, buttons %q", path, m.do, count(tw), tw.Buttons)
				}
			}
			if tw := shown(s.browser(), "/tweets/"+id); count(tw) != m.one || tw.Buttons != "" {
				t.Errorf("nobody signed in sees %q and buttons %q", count(tw), tw.Buttons)
			}
			// Back from another site's page: to the tweet's own.
			alice.header.Set("Referer", "https://elsewhere.example/tweets/general_timeline")
			alice.post("/tweets/"+m.undo+"/"+id, nil).wantRedirect(t, "/tweets/"+id+"#tweet-"+id)
			alice.header.Del("Referer")
			alice.get("/tweets/"+id).want(t, 200, m.undone)
			if tw := shown(alice, "/tweets/"+id); count(tw) != "0 "+strings.ToLower(m.count) || strings.Contains(tw.Buttons, m.pressed) {
				t.Errorf("after the undo: %q, buttons %q", count(tw), tw.Buttons)
			}
			alice.post("/tweets/"+m.do+"/999999", nil).want(t, 404)
			s.browser().post("/tweets/"+m.do+"/"+id, nil).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
			if n := s.rdb.SCard(t.Context(), m.key).Val(); n != 0 {
				t.Errorf("%s holds %d after the signed-out one; want 0", m.key, n)
			}
		})
	}
}

// TestRepostOnTimelines: bob's repost of alice's tweet shows on his
// follower carol's timeline as "bob reposted", once; carol's own page
// lists a count of 1; bob's undo takes it off.
func TestRepostOnTimelines(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob", "carol")
	alice, bob, carol := users[0], users[1], users[2]
	carol.post("/tweets/follow/bob", nil).want(t, 303)
	alice.post("/tweets/user_timeline", form("tweet", "worth a repost")).want(t, 303)
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	if tw := carol.get("/tweets/user_timeline").tweets(t); len(tw) != 0 {
		t.Fatalf("carol's timeline before the repost: %+v", tw)
	}
	bob.post("/tweets/repost/"+id, nil).want(t, 303)
	bob.post("/tweets/repost/"+id, nil).want(t, 303)
	tw := carol.get("/tweets/user_timeline").tweets(t)
	if len(tw) != 1 || tw[0].RepostedBy != "bob reposted" || tw[0].Author != "alice" || tw[0].Reposts != "1 repost" {
		t.Errorf("carol's timeline after bob's repost: %+v", tw)
	}
	bob.post("/tweets/unrepost/"+id, nil).want(t, 303)
	if tw := carol.get("/tweets/user_timeline").tweets(t); len(tw) != 0 {
		t.Errorf("carol's timeline after bob's undo: %+v", tw)
	}
}

// TestNotificationsPage: the navigation shows the unread count, the page
// lists what happened, newest first, and reading it clears the count.
func TestNotificationsPage(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	bob.post("/tweets/follow/alice", nil).wantRedirect(t, "/tweets/user_history/alice")
	bob.post("/tweets/user_timeline", form("tweet", "hey @alice, <look>")).wantRedirect(t, "/tweets/user_timeline")
	alice.get("/tweets/user_timeline").want(t, 200, `Notifications <span class="badge" aria-label="2 unread">2</span>`)
	page := alice.get("/notifications")
	page.want(t, 200, "bob</a> mentioned you", "hey @alice, &lt;look&gt;", "bob</a> followed you")
	if strings.Index(page.body, "mentioned you") > strings.Index(page.body, "followed you") {
		t.Error("notifications are not newest first")
	}
	if strings.Contains(page.body, `class="badge"`) {
		t.Error("the unread count is still shown on the page that read them")
	}
	if strings.Contains(alice.get("/tweets/user_timeline").body, `class="badge"`) {
		t.Error("the unread count is still shown after reading")
	}
	alice.get("/notifications?page=2").want(t, 404, "Page 2 is past the end of this list.")
	s.browser().get("/notifications").wantRedirect(t, "/auth/?next=%2Fnotifications")
}

// TestDeleteTweetPages: the author sees Delete on their tweets (and nobody
// else does), which asks for confirmation on a page of its own, then
// deletes and goes to their profile; the tweet is gone from every page and
// its own is a 404. Someone else's deletion is refused and changes nothing.
func TestDeleteTweetPages(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	bob.post("/tweets/follow/alice", nil)
	alice.post("/tweets/user_timeline", form("tweet", "oops #typo")).wantRedirect(t, "/tweets/user_timeline")
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	bob.post("/tweets/reply/"+id, form("tweet", "you have a typo"))

	for _, c := range []struct {
		who  *browser
		path string
		link string
	}{
		{alice, "/tweets/user_history/alice", "/tweets/delete/" + id},
		{alice, "/tweets/" + id, "/tweets/delete/" + id},
		{bob, "/tweets/user_timeline", ""},
		{s.browser(), "/tweets/general_timeline", ""},
	} {
		p := c.who.get(c.path)
		p.want(t, 200)
		var link string
		for _, tw := range p.tweets(t) {
			if tw.Body == "oops #typo" {
				link = tw.Delete
			}
		}
		if link != c.link {
			t.Errorf("%s: the tweet's delete link is %q; want %q", c.path, link, c.link)
		}
	}

	// Someone else: refused, on the confirmation page and the form.
	bob.get("/tweets/delete/"+id).want(t, 403, "You can only change your own tweets.")
	bob.post("/tweets/delete/"+id, nil).want(t, 403, "You can only change your own tweets.")
	s.browser().get("/tweets/delete/"+id).wantRedirect(t, "/auth/?next=%2Ftweets%2Fdelete%2F"+id)
	bob.get("/tweets/"+id).want(t, 200, "oops #typo")

	// The author: a confirmation page with the tweet and a form.
	alice.header.Set("Referer", s.srv.URL+"/tweets/user_history/alice")
	p := alice.get("/tweets/delete/" + id)
	alice.header.Del("Referer")
	p.want(t, 200, "Delete this tweet?", `action="/tweets/delete/`+id+`"`, `href="/tweets/user_history/alice">Cancel`)
	if tw := p.tweets(t); len(tw) != 1 || tw[0].Body != "oops #typo" {
		t.Errorf("the confirmation page shows %+v; want the tweet", tw)
	}
	alice.post("/tweets/delete/"+id, nil).wantRedirect(t, "/tweets/user_history/alice")
	alice.get("/tweets/user_history/alice").want(t, 200, "Your tweet was deleted.")
	for _, path := range []string{"/tweets/user_history/alice", "/tweets/general_timeline", "/tags/typo"} {
		if p := alice.get(path); strings.Contains(p.body, "oops #typo") {
			t.Errorf("%s still shows the deleted tweet", path)
		}
	}
	if p := bob.get("/tweets/user_timeline"); strings.Contains(p.body, "oops #typo") {
		t.Error("the follower's timeline still shows the deleted tweet")
	}
	bob.get("/tweets/"+id).want(t, 404)
	reply := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	page := bob.get("/tweets/" + reply)
	page.want(t, 200, "you have a typo", "The tweet it replied to was deleted",
		`<ol class="tweets ancestors"><li class="gone"><p>This tweet was deleted.</p></li>`)
	if strings.Contains(page.body, "oops") {
		t.Error("the reply's page shows the text of the tweet deleted above it")
	}
}

// TestEditTweetPages: the author sees Edit on their tweet while it may be
// edited; the edit page holds its text; a bad text is shown again with
// why; a saved edit shows on the tweet's page with "edited" and the earlier
// text. Someone else, and the author after the window, are refused.
func TestEditTweetPages(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	alice.post("/tweets/user_timeline", form("tweet", "helo world")).wantRedirect(t, "/tweets/user_timeline")
	id := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	edit := "/tweets/edit/" + id
	link := func(b *browser) string {
		t.Helper()
		tw := b.get("/tweets/user_history/alice").tweets(t)
		if len(tw) == 0 {
			t.Fatal("alice's page shows no tweet")
		}
		return tw[0].Edit
	}
	if got := link(alice); got != edit {
		t.Errorf("alice's edit link is %q; want %q", got, edit)
	}
	if got := link(bob); got != "" {
		t.Errorf("bob sees an edit link %q on alice's tweet", got)
	}
	alice.get(edit).want(t, 200, "Edit tweet", `action="`+edit+`"`, ">helo world</textarea>", "for 30 minutes after posting")
	alice.post(edit, form("tweet", "  ")).want(t, 422, "The tweet is empty.", `action="`+edit+`"`)
	bob.get(edit).want(t, 403, "You can only change your own tweets.")
	bob.post(edit, form("tweet", "hijacked")).want(t, 403, "You can only change your own tweets.")
	s.browser().post(edit, form("tweet", "anonymous")).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")

	// The same text is no edit: the page says so, and has no versions.
	alice.post(edit, form("tweet", "helo world")).wantRedirect(t, "/tweets/"+id)
	same := alice.get("/tweets/" + id)
	same.want(t, 200, "The text is the same, so the tweet is unchanged.")
	for _, text := range []string{"Tweet edited.", "Earlier versions"} {
		if strings.Contains(same.body, text) {
			t.Errorf("after saving the same text the page says %q", text)
		}
	}

	alice.post(edit, form("tweet", "hello world")).wantRedirect(t, "/tweets/"+id)
	p := alice.get("/tweets/" + id)
	p.want(t, 200, "Tweet edited.", "Earlier versions", "helo world")
	if tw := p.tweets(t); len(tw) == 0 || tw[0].Body != "hello world" || !strings.HasPrefix(tw[0].Edited, "edited ") {
		t.Errorf("the tweet's page shows %+v; want the new text, edited", tw)
	}
	if tw := bob.get("/tweets/general_timeline").tweets(t); len(tw) == 0 || tw[0].Body != "hello world" {
		t.Errorf("the general timeline shows %+v; want the new text", tw)
	}

	// Past the window (the site's clock for its pages, the tweet's time in
	// Redis for the edit itself).
	s.setNow(time.Now().Add(store.DefaultEditWindow + time.Minute))
	s.rdb.HSet(t.Context(), "tweet:"+id, "unix_time", time.Now().Add(-store.DefaultEditWindow-time.Minute).Unix())
	if got := link(alice); got != "" {
		t.Errorf("after the window alice still sees an edit link %q", got)
	}
	alice.get(edit).want(t, 403, "can no longer be edited")
	alice.post(edit, form("tweet", "too late")).want(t, 403, "can no longer be edited")
	if body := s.rdb.HGet(t.Context(), "tweet:"+id, "body").Val(); body != "hello world" {
		t.Errorf("pytwis reads %q after the refused edit", body)
	}
}

// TestSearchPage: the search box on every page leads to /search, which
// lists the users whose names match and the tweets with every word of the
// query, or its #tag, newest first and paged.
func TestSearchPage(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	alice.post("/tweets/user_timeline", form("tweet", "Picnic in the park #sunday"))
	bob.post("/tweets/user_timeline", form("tweet", "The park is closed"))
	for i := range 21 {
		bob.post("/tweets/user_timeline", form("tweet", fmt.Sprintf("many %d", i)))
	}
	for {
		n, err := s.store.IndexSearch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	alice.get("/tweets/general_timeline").want(t, 200, `<form class="search" method="get" action="/search" role="search">`)
	p := s.browser().get("/search")
	p.want(t, 200, `<input id="q" name="q" type="search" value=""`)
	if strings.Contains(p.body, "<h2>Tweets</h2>") {
		t.Error("the empty search shows results")
	}
	bodies := func(p *resp) []string {
		var out []string
		for _, tw := range p.tweets(t) {
			out = append(out, tw.Body)
		}
		return out
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"park", []string{"The park is closed", "Picnic in the park #sunday"}},
		{"PARK picnic", []string{"Picnic in the park #sunday"}},
		{"#Sunday", []string{"Picnic in the park #sunday"}},
		{"nothing", nil},
	} {
		p := alice.get("/search?q=" + url.QueryEscape(c.q))
		p.want(t, 200, `value="`+c.q+`"`)
		if got := bodies(p); !slices.Equal(got, c.want) {
			t.Errorf("search %q shows %q; want %q", c.q, got, c.want)
		}
	}
	alice.get("/search?q=ali").want(t, 200, "People", `<a href="/tweets/user_history/alice">alice</a>`, "No tweets match “ali”.")
	p = alice.get("/search?q=many")
	p.want(t, 200, `href="/search?q=many&amp;page=2"`)
	if n := len(p.tweets(t)); n != 20 {
		t.Errorf("the first page of many shows %d tweets; want 20", n)
	}
	if got := bodies(alice.get("/search?q=many&page=2")); !slices.Equal(got, []string{"many 0"}) {
		t.Errorf("the second page of many shows %q; want the oldest", got)
	}
	alice.get("/search?q=many&page=3").want(t, 404, "Page 3 is past the end of this list.")
	alice.get("/search?q=nothing&page=2").want(t, 404, "Page 2 is past the end of this list.")
}
