package serve_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"pytwask/app/redistest"
)

// TestBrowserLive: two people in Chromium, each on a pytwask instance of
// their own behind one nginx (the shipped configuration, twice: one port
// per instance, so that the event has to cross from one instance to the
// other through Redis). Ben follows ann; ann posts; ben's open timeline
// shows "1 new post" within 2 s, and clicking shows it. Ann likes ben's
// tweet; ben's unread count changes in his navigation, and goes when she
// takes the like back. Then ben's instance
// restarts while ann posts: ben's page reconnects and loses nothing.
func TestBrowserLive(t *testing.T) {
	needChromium(t)
	nginx := need(t, "nginx")
	rs := redistest.Start(t)
	dir := socketDir(t)
	env := append(baseEnv(rs), "PYTWASK_SIGNIN_LIMIT_CLIENT=0", "PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0")
	socks := []string{filepath.Join(dir, "p1.sock"), filepath.Join(dir, "p2.sock")}
	procs := []*proc{start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[0])), start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[1]))}
	ports := []int{freePort(t), freePort(t)}
	runNginx(t, nginx, dir, nginxPerInstance(t, ports, socks))
	base := []string{"http://127.0.0.1:" + strconv.Itoa(ports[0]), "http://127.0.0.1:" + strconv.Itoa(ports[1])}
	for _, b := range base {
		waitUp(t, b+"/healthz")
	}

	ann := newBrowser(t, base[0], rs)
	ben := ann.another()
	ben.base = base[1]
	for _, p := range []struct {
		b    *browserRun
		name string
	}{{ann, "ann"}, {ben, "ben"}} {
		p.b.signUp(p.name, "Passw0rd!")
		p.b.signIn(p.name, "Passw0rd!", false)
	}
	ben.open("/tweets/user_history/ann")
	ben.run(chromedp.Click(`form[action="/tweets/follow/ann"] button`, chromedp.ByQuery))
	ben.waitText("Followed ann")
	post := func(p *browserRun, text string) {
		t.Helper()
		p.open("/tweets/user_timeline")
		p.fill([][2]string{{"#tweet", text}}, `main form[action="/tweets/user_timeline"] button`)
		p.waitText("Tweet successfully posted")
	}
	post(ben, "Ben's own tweet")

	ben.open("/tweets/user_timeline")
	waitLive(t, ben)
	post(ann, "Hello from instance one")
	posted := time.Now()
	bar := `.live-bar button`
	waitFor(t, ben, bar, "1 new post — show", 2*time.Second)
	t.Logf("ben saw ann's post %v after it was acknowledged", time.Since(posted).Round(time.Millisecond))
	shotOf(t, ben, "live-new-post")
	ben.run(chromedp.Click(bar, chromedp.ByQuery))
	waitFor(t, ben, `ol.tweets li:first-child .body`, "Hello from instance one", 2*time.Second)
	// Its time is said in the reader's time zone, as the page's others.
	var titles []string
	ben.eval(`[...document.querySelectorAll("ol.tweets li.tweet time[title]")].map(t => t.title)`, &titles)
	serverForm := regexp.MustCompile(`^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} UTC$`) // tweetView.Title
	if len(titles) != 2 || titles[0] == "" || serverForm.MatchString(titles[0]) || serverForm.MatchString(titles[1]) {
		t.Errorf("the times of the shown post and the page's other say %q; want the script's local form", titles)
	}
	if n := count(ben, bar); n != 0 {
		t.Errorf("the bar is still there after showing the post")
	}
	if n := count(ben, `ol.tweets li.tweet`); n != 2 {
		t.Errorf("ben's timeline lists %d tweets; want 2", n)
	}

	// Ann likes ben's tweet: ben's unread count changes where he is.
	ann.open("/tweets/user_history/ben")
	ann.run(chromedp.Click(`form[action^="/tweets/like/"] button`, chromedp.ByQuery))
	ann.waitText("1 like")
	waitFor(t, ben, `nav a[href="/notifications"] .badge`, "1", 2*time.Second)
	// ... and the like count of his tweet on the page he has open.
	waitFor(t, ben, `ol.tweets li.tweet:last-child .likes`, "1 like", 2*time.Second)
	shotOf(t, ben, "live-unread")
	// Ann takes her like back: the count and the notification go again.
	ann.run(chromedp.Click(`form[action^="/tweets/unlike/"] button`, chromedp.ByQuery))
	waitFor(t, ann, `form[action^="/tweets/like/"] button`, "Like", 2*time.Second)
	waitFor(t, ben, `ol.tweets li.tweet:last-child .likes`, "0 likes", 2*time.Second)
	for deadline := time.Now().Add(2 * time.Second); count(ben, `nav a[href="/notifications"] .badge`) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("ben's unread count stayed after ann took her like back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ann.checkClean()
	ben.checkClean()

	// Ben's instance restarts; ann posts meanwhile. Ben's page reconnects
	// (nginx answers 502 while nothing listens) and gets what it missed.
	if code := procs[1].stop(); code != 0 {
		t.Errorf("ben's instance exited with %d", code)
	}
	post(ann, "Posted while ben's instance was down")
	procs[1] = start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[1]))
	waitFor(t, ben, bar, "1 new post — show", 20*time.Second)
	ben.run(chromedp.Click(bar, chromedp.ByQuery))
	waitFor(t, ben, `ol.tweets li:first-child .body`, "Posted while ben's instance was down", 2*time.Second)

	// The console's errors so far are the stream's 502s while nothing
	// listened: expected. From here on, none.
	ben.mu.Lock()
	ben.errors = nil
	ben.mu.Unlock()

	// A conversation: ben reads ann's tweet; her reply arrives under it.
	id := strings.TrimPrefix(attrOf(ben, `ol.tweets li:first-child .permalink`, "href"), "/tweets/")
	ben.open("/tweets/" + id)
	waitLive(t, ben)
	ann.open("/tweets/" + id)
	ann.fill([][2]string{{"#tweet", "A reply, live"}}, `main form[action="/tweets/reply/`+id+`"] button`)
	ann.waitText("Reply posted")
	waitFor(t, ben, bar, "1 new reply — show", 2*time.Second)
	waitFor(t, ben, `ol.focus .replies`, "1 reply", 2*time.Second)
	ben.run(chromedp.Click(bar, chromedp.ByQuery))
	waitFor(t, ben, `ol.tweets.replies li:last-child .body`, "A reply, live", 2*time.Second)
	shotOf(t, ben, "live-reply")

	// Ben reads the reply; ann deletes her tweet above it: its place says
	// so, as the page would after a reload.
	ben.open(attrOf(ben, `ol.tweets.replies li:last-child .permalink`, "href"))
	waitLive(t, ben)
	if n := count(ben, `ol.ancestors #tweet-`+id); n != 1 {
		t.Fatalf("the reply's page shows ann's tweet above it %d times; want once", n)
	}
	ann.open("/tweets/delete/" + id)
	ann.run(chromedp.Click(`main form[action="/tweets/delete/`+id+`"] button`, chromedp.ByQuery))
	ann.waitText("Your tweet was deleted.")
	waitFor(t, ben, `ol.ancestors li.gone`, "This tweet was deleted.", 2*time.Second)
	if n := count(ben, `#tweet-`+id); n != 0 {
		t.Error("ben's page still shows the deleted tweet")
	}
	ben.checkClean()
}

// nginxPerInstance is the shipped nginx site twice: on ports[i], proxying
// to socks[i] only. The edge's per-address limits are off: the test's
// load comes from one address.
func nginxPerInstance(t *testing.T, ports []int, socks []string) string {
	t.Helper()
	first := shippedNginxConf(t, ports[0], "server unix:"+socks[0]+";")
	first = strings.NewReplacer("limit_req zone=pytwask_signin burst=10 nodelay;", "",
		"limit_req zone=pytwask_post burst=30 nodelay;", "").Replace(first)
	at := strings.Index(first, "\nserver {")
	if at < 0 {
		t.Fatal("no server block in the shipped nginx config")
	}
	second := strings.NewReplacer("listen 127.0.0.1:"+strconv.Itoa(ports[0])+";", "listen 127.0.0.1:"+strconv.Itoa(ports[1])+";",
		"proxy_pass http://pytwask;", "proxy_pass http://pytwask2;").Replace(first[at:])
	return first + "\nupstream pytwask2 {\n    server unix:" + socks[1] + ";\n    keepalive 16;\n}\n" + second
}

// waitLive waits until the page's live stream is open.
func waitLive(t *testing.T, b *browserRun) {
	t.Helper()
	waitFor(t, b, `main[data-live-state="open"]`, "", 5*time.Second)
}

// waitFor waits until an element matching sel shows text (any text if
// empty) within d.
func waitFor(t *testing.T, b *browserRun, sel, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got string
		var found bool
		js := fmt.Sprintf(`(function () { var e = document.querySelector(%q); return e ? [true, e.textContent.trim()] : [false, ""]; })()`, sel)
		var res []any
		if err := chromedp.Run(b.ctx, chromedp.Evaluate(js, &res)); err == nil && len(res) == 2 {
			found, _ = res[0].(bool)
			got, _ = res[1].(string)
			if found && (want == "" || got == want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v, %s never showed %q (found %v, showing %q)", d, sel, want, found, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shotOf saves a screenshot of b's page as name.png among the test's.
func shotOf(t *testing.T, b *browserRun, name string) {
	t.Helper()
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
