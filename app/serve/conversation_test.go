package serve_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserConversation: three people, each in a browser context of
// their own, hold a conversation in Chromium the way people do, at desktop
// and at phone size: a post that mentions and tags, a reply from the
// mention's notification, the tag page, a like and a repost from lists, the
// repost on a follower's timeline, the author's notifications, an undo,
// an edit, a search, the author deleting her tweet, and a user deleting
// their account.
// Every step is a screenshot, and every page passes the checks of
// TestBrowserPages.
func TestBrowserConversation(t *testing.T) {
	ann := startBrowser(t)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 360, 740}} {
		t.Run(size.name, func(t *testing.T) {
			ben, cat := ann.another(), ann.another()
			people := []*browserRun{ann, ben, cat}
			// Names of their own at each size, on the same site.
			name := func(who string) string { return who + "_" + size.name[:1] }
			a, b, c := name("ann"), name("ben"), name("cat")
			tag := name("picnic")
			step := 0
			shot := func(p *browserRun, what string) {
				t.Helper()
				step++
				var png []byte
				p.run(chromedp.FullScreenshot(&png, 100))
				file := filepath.Join(ann.shots, fmt.Sprintf("conversation-%s-%02d-%s.png", size.name, step, what))
				if err := os.WriteFile(file, png, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, pr := range p.pageProblems() {
					t.Errorf("step %d (%s) at %s: %s", step, what, size.name, pr)
				}
			}
			for i, who := range []string{a, b, c} {
				p := people[i]
				p.run(chromedp.EmulateViewport(size.w, size.h))
				if p == ann && size.name == "phone" {
					p.signOut()
				}
				p.signUp(who, "Passw0rd!")
				p.signIn(who, "Passw0rd!", false)
			}
			follow := func(p *browserRun, whom string) {
				t.Helper()
				p.open("/tweets/user_history/" + whom)
				p.run(chromedp.Click(`form[action="/tweets/follow/`+whom+`"] button`, chromedp.ByQuery))
				p.waitText("Followed " + whom)
			}
			follow(ben, a) // ben follows ann; cat follows ben only
			follow(cat, b)

			// Ann posts, mentioning ben, with a tag.
			ann.open("/tweets/user_timeline")
			ann.fill([][2]string{{"#tweet", "Who is coming to the #P" + tag[1:] + " on Sunday, @" + b + "?"}}, `main form[action="/tweets/user_timeline"] button`)
			ann.waitText("Tweet successfully posted")
			shot(ann, "ann-posts")

			// Ben sees the mention in the navigation, and answers from it.
			ben.open("/tweets/general_timeline")
			if badge := text(ben, `nav .badge`); badge != "2" {
				t.Errorf("ben's unread count shows %q; want 2 (cat's follow, ann's mention)", badge)
			}
			ben.run(chromedp.Click(`nav a[href="/notifications"]`, chromedp.ByQuery))
			ben.waitText(a + " mentioned you")
			shot(ben, "ben-notified")
			ben.run(chromedp.Click(`.notification .snippet a`, chromedp.ByQuery))
			ben.waitText("0 replies")
			ben.fill([][2]string{{"#tweet", "Count me in! @" + c + " will bring the cake #" + tag}}, `main form[action^="/tweets/reply/"] button`)
			ben.waitText("Reply posted")
			ben.waitText("1 reply")
			shot(ben, "ben-replies")

			// Cat, mentioned in the reply, reads the conversation and
			// follows the tag.
			cat.open("/notifications")
			cat.waitText(b + " mentioned you")
			cat.run(chromedp.Click(`.notification .snippet a`, chromedp.ByQuery))
			cat.waitText("Replying to @" + a)
			cat.waitText("Who is coming to the #P" + tag[1:])
			shot(cat, "cat-reads-the-conversation")
			cat.run(chromedp.Click(`.ancestors .body a[href="/tags/`+tag+`"]`, chromedp.ByQuery))
			cat.waitPath("/tags/" + tag)
			if n := count(cat, `.tweet`); n != 2 {
				t.Errorf("the tag page lists %d tweets; want 2", n)
			}
			shot(cat, "cat-on-the-tag-page")

			// Cat likes ann's tweet from the tag page, and is back there.
			annTweet := attrOf(cat, `.tweet:last-child .permalink`, "href")
			id := strings.TrimPrefix(annTweet, "/tweets/")
			cat.run(chromedp.Click(`#tweet-`+id+` form[action="/tweets/like/`+id+`"] button`, chromedp.ByQuery))
			cat.waitText("Liked.")
			var loc string
			cat.run(chromedp.Location(&loc))
			if !strings.HasSuffix(loc, "/tags/"+tag+"#tweet-"+id) {
				t.Errorf("after the like cat is at %s; want the tag page, at the tweet", loc)
			}
			if got := text(cat, `#tweet-`+id+` .likes`); got != "1 like" {
				t.Errorf("ann's tweet shows %q after cat's like", got)
			}
			shot(cat, "cat-likes")

			// Ben reposts ann's tweet from his timeline; it reaches cat's,
			// who follows only ben, marked as his repost.
			ben.open("/tweets/user_timeline")
			ben.run(chromedp.Click(`#tweet-`+id+` form[action="/tweets/repost/`+id+`"] button`, chromedp.ByQuery))
			ben.waitText("Reposted.")
			shot(ben, "ben-reposts")
			cat.open("/tweets/user_timeline")
			cat.waitText(b + " reposted")
			if got := text(cat, `#tweet-`+id+` .reposted-by`); got != b+" reposted" {
				t.Errorf("cat's timeline marks ann's tweet %q", got)
			}
			for sel, want := range map[string]string{".replies": "1 reply", ".reposts": "1 repost", ".likes": "1 like"} {
				if got := text(cat, `#tweet-`+id+` `+sel); got != want {
					t.Errorf("ann's tweet on cat's timeline shows %q; want %q", got, want)
				}
			}
			shot(cat, "cat-sees-the-repost")

			// Ann reads what happened; the count in the navigation clears.
			ann.open("/tweets/user_timeline")
			if badge := text(ann, `nav .badge`); badge != "4" {
				t.Errorf("ann's unread count shows %q; want 4 (ben's follow, reply and repost, cat's like)", badge)
			}
			ann.run(chromedp.Click(`nav a[href="/notifications"]`, chromedp.ByQuery))
			ann.waitText(b + " reposted your tweet")
			ann.waitText(c + " liked your tweet")
			ann.waitText(b + " replied to your tweet")
			shot(ann, "ann-notified")
			ann.open("/tweets/user_timeline")
			if n := count(ann, `nav .badge`); n != 0 {
				t.Error("the unread count is still shown after reading")
			}

			// Ben takes the repost back: off cat's timeline.
			ben.open("/tweets/" + id)
			ben.run(chromedp.Click(`form[action="/tweets/unrepost/`+id+`"] button`, chromedp.ByQuery))
			ben.waitText("Repost undone.")
			cat.open("/tweets/user_timeline")
			if n := count(cat, `#tweet-`+id); n != 0 {
				t.Error("ann's tweet is still on cat's timeline after ben's undo")
			}
			shot(cat, "cat-after-the-undo")

			// Ben fixes his reply from his profile: its page shows it
			// edited, with the earlier text.
			ben.open("/tweets/user_history/" + b)
			ben.run(chromedp.Click(`.tweet a.edit`, chromedp.ByQuery))
			ben.waitText("Edit tweet")
			ben.fill([][2]string{{"#tweet", "Count me in! @" + c + " will bring the cake, I the lemonade #" + tag}}, `main form[action^="/tweets/edit/"] button`)
			ben.waitText("Tweet edited.")
			ben.waitText("Earlier versions")
			if got := text(ben, `.focus .body`); !strings.Contains(got, "I the lemonade") {
				t.Errorf("the edited reply shows %q", got)
			}
			if got := text(ben, `.focus .edited`); !strings.HasPrefix(got, "edited") {
				t.Errorf("the edited reply is marked %q", got)
			}
			shot(ben, "ben-edits-his-reply")

			// Cat looks for it with the search box in the navigation.
			cat.open("/tweets/user_timeline")
			cat.run(chromedp.SendKeys(`form.search input[name="q"]`, "Lemonade "+tag+"\r", chromedp.ByQuery))
			cat.waitText("Results for “Lemonade " + tag + "”")
			if n := count(cat, `.tweet`); n == 0 {
				var loc string
				cat.run(chromedp.Location(&loc))
				t.Logf("the search at %s shows: %s", loc, text(cat, "main"))
			}
			if n := count(cat, `.tweet`); n != 1 || !strings.Contains(text(cat, `.tweet .body`), "I the lemonade") {
				t.Errorf("the search lists %d tweets (%q); want ben's edited reply", n, text(cat, `.tweet .body`))
			}
			shot(cat, "cat-searches")

			// Cat is writing a reply to ann's tweet as ann deletes it.
			cat.open("/tweets/" + id)
			cat.run(chromedp.WaitVisible(`#tweet`, chromedp.ByQuery), chromedp.SendKeys(`#tweet`, "See you there!", chromedp.ByQuery))

			// Ann deletes her tweet from her profile, after confirming: it
			// is gone from ben's timeline and the tag page; ben's reply
			// stays, replying to a deleted tweet.
			ann.open("/tweets/user_history/" + a)
			ann.run(chromedp.Click(`#tweet-`+id+` a.delete`, chromedp.ByQuery))
			ann.waitText("Delete this tweet?")
			shot(ann, "ann-confirms-the-deletion")
			ann.run(chromedp.Click(`main form[action="/tweets/delete/`+id+`"] button`, chromedp.ByQuery))
			ann.waitText("Your tweet was deleted.")
			if n := count(ann, `#tweet-`+id); n != 0 {
				t.Error("ann's profile still lists the deleted tweet")
			}
			shot(ann, "ann-deleted")
			// Cat's reply is refused, and its text waits in her post form.
			cat.run(chromedp.Click(`main form[action="/tweets/reply/`+id+`"] button`, chromedp.ByQuery))
			cat.waitText("so your reply was not posted")
			var kept string
			cat.eval(`document.querySelector("#tweet").value`, &kept)
			if kept != "See you there!" {
				t.Errorf("cat's post form holds %q; want her reply's text", kept)
			}
			shot(cat, "cat-replies-to-a-deleted-tweet")
			ben.open("/tweets/user_timeline")
			if n := count(ben, `#tweet-`+id); n != 0 {
				t.Error("ben's timeline still lists ann's deleted tweet")
			}
			ben.open(attrOf(ben, `.tweet .permalink`, "href"))
			ben.waitText("The tweet it replied to was deleted")
			if got := text(ben, `.ancestors`); got != "This tweet was deleted." {
				t.Errorf("above ben's reply: %q; want the deleted tweet's place", got)
			}
			shot(ben, "ben-reply-to-a-deleted-tweet")
			cat.open("/tags/" + tag)
			if n := count(cat, `.tweet`); n != 1 {
				t.Errorf("the tag page lists %d tweets after the deletion; want ben's reply", n)
			}

			// Ben deletes his account from the settings page, with his
			// password: signed out, his reply gone from the tag page.
			ben.open("/auth/user_settings")
			ben.fill([][2]string{{"#delete_password", "Passw0rd!"}}, `form[action="/auth/delete_account"] button`)
			ben.waitText("Your account was deleted.")
			shot(ben, "ben-deleted-his-account")
			cat.open("/tags/" + tag)
			if n := count(cat, `.tweet`); n != 0 {
				t.Errorf("the tag page lists %d tweets after ben's account was deleted; want none", n)
			}
			for _, p := range people {
				p.checkClean()
			}
		})
	}
}

// text is the inner text of the first element matching sel ("" for none).
func text(p *browserRun, sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(e => e ? e.innerText.trim() : "")(document.querySelector(%q))`, sel), &s)
	return s
}

// count is how many elements match sel.
func count(p *browserRun, sel string) int {
	p.t.Helper()
	var n int
	p.eval(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n)
	return n
}

// attrOf is an attribute of the first element matching sel.
func attrOf(p *browserRun, sel, name string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(e => e ? e.getAttribute(%q) || "" : "")(document.querySelector(%q))`, name, sel), &s)
	return s
}
