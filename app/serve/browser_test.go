package serve_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

// chromiumPath is Debian's Chromium (packages chromium, chromium-driver).
const chromiumPath = "/usr/bin/chromium"

// browserRun is Debian's Chromium, headless, on a site of its own, watching
// for console errors and for any request that leaves 127.0.0.1.
type browserRun struct {
	t       *testing.T
	ctx     context.Context
	base    string
	host    string // requests to any other host are foreign
	rs      *redistest.Server
	shots   string
	mu      sync.Mutex
	errors  []string
	foreign []string
	// documents are the page loads; their 4xx statuses are the tests' own
	// doing (a form refused, a missing page), so only errors on anything
	// else (a stylesheet, an icon) count.
	documents map[network.RequestID]bool
	// axe is axe-core's source (axeEnv), "" where it is not installed.
	axe string
}

// axeEnv names axe-core's axe.min.js, from its npm package (.ci/run fetches
// it): the accessibility rules, kept up to date by their authors, that
// pageProblems runs on every page the browser tests check.
const axeEnv = "PYTWASK_AXE_JS"

// startBrowser runs pytwask on plain HTTP on a Redis of its own, and Chromium
// on it.
func startBrowser(t *testing.T) *browserRun {
	t.Helper()
	needChromium(t)
	rs := redistest.Start(t)
	port := strconv.Itoa(freePort(t))
	start(t, append(baseEnv(rs), "PYTWASK_LISTEN=127.0.0.1:"+port))
	return newBrowser(t, "http://127.0.0.1:"+port, rs)
}

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if redistest.Strict() {
			t.Fatalf("Chromium is not installed at %s (apt-get install chromium chromium-driver)", chromiumPath)
		}
		t.Skipf("Chromium is not installed at %s: apt-get install chromium chromium-driver", chromiumPath)
	}
}

// newBrowser starts headless Chromium, with a fresh profile, on the site at
// base, whose data is in rs. Requests to any host but base's count as
// foreign. extra adds to Chromium's options (its environment, flags).
func newBrowser(t *testing.T, base string, rs *redistest.Server, extra ...chromedp.ExecAllocatorOption) *browserRun {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	b := &browserRun{t: t, base: base, host: u.Hostname(), rs: rs, documents: map[network.RequestID]bool{}}
	if path := os.Getenv(axeEnv); path != "" {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", axeEnv, err)
		}
		b.axe = string(src)
	} else if redistest.Strict() {
		t.Fatalf("%s is not set: axe-core's accessibility rules cannot run (.ci/run fetches axe-core)", axeEnv)
	} else {
		t.Logf("%s is not set: pages are checked without axe-core's accessibility rules", axeEnv)
	}

	b.shots = os.Getenv("PYTWASK_SCREENSHOTS")
	if b.shots == "" {
		dir, err := os.MkdirTemp("", "pytwask-screenshots-")
		if err != nil {
			t.Fatal(err)
		}
		b.shots = dir
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", b.shots)

	// A fresh profile, removed once the browser is gone: Chromium's helper
	// processes may still write to it for a moment after it is told to stop,
	// which t.TempDir's own removal reports as a failure.
	profile, err := os.MkdirTemp("", "pytwask-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 800),
	)
	opts = append(opts, extra...)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b.ctx = ctx
	b.watch()
	return b
}

// watch records the console errors and foreign requests of b's pages.
func (b *browserRun) watch() {
	chromedp.ListenTarget(b.ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				b.errors = append(b.errors, fmt.Sprintf("console.error %v", e.Args))
			}
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError && !b.documents[e.Entry.NetworkRequestID] {
				b.errors = append(b.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if e.Type == network.ResourceTypeDocument {
				b.documents[e.RequestID] = true
			}
			if u, err := url.Parse(e.Request.URL); err == nil && u.Scheme != "data" && u.Hostname() != b.host {
				b.foreign = append(b.foreign, e.Request.URL)
			}
		}
	})
	b.run(cdplog.Enable(), network.Enable())
}

// another is a second person at the same site: a window of the same
// Chromium in a browser context of its own (cookies and all), as a private
// window. The window is made here: chromedp's WithNewBrowserContext opens
// a tab, which Chromium refuses in a context that has no window yet.
func (b *browserRun) another() *browserRun {
	b.t.Helper()
	var tid target.ID
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		id, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
		if err != nil {
			return err
		}
		tid, err = target.CreateTarget("about:blank").WithBrowserContextID(id).WithNewWindow(true).
			Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
		return err
	}))
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(tid))
	b.t.Cleanup(cancel)
	o := &browserRun{t: b.t, ctx: ctx, base: b.base, host: b.host, rs: b.rs, shots: b.shots, documents: map[network.RequestID]bool{}, axe: b.axe}
	o.watch()
	return o
}

func (b *browserRun) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browserRun) open(path string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + path))
}

// eval runs JavaScript in the page and decodes its result into res.
func (b *browserRun) eval(js string, res any) {
	b.t.Helper()
	b.run(chromedp.Evaluate(js, res))
}

// waitText waits until the page shows text. It is called right after a
// click that navigates, so a read that finds the page between documents
// ("Inspected target navigated or closed") is tried again, not a failure.
func (b *browserRun) waitText(text string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var body string
		err := chromedp.Run(b.ctx, chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &body))
		if err == nil && strings.Contains(body, text) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page never showed %q (last read: %v); it shows:\n%s", text, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPath waits until the browser has left the page it was on for a
// document at path, after a click on a link: waitText alone would pass on
// the old page when it shows the same words.
func (b *browserRun) waitPath(path string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var at string
		err := chromedp.Run(b.ctx, chromedp.Evaluate(`location.pathname + " " + document.readyState`, &at))
		if err == nil && (at == path+" interactive" || at == path+" complete") {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the browser never reached %s (last read: %q, %v)", path, at, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill types into the form fields (CSS selector -> text) and submits the
// form that holds the first field.
func (b *browserRun) fill(fields [][2]string, submit string) {
	b.t.Helper()
	for _, f := range fields {
		b.run(chromedp.WaitVisible(f[0], chromedp.ByQuery),
			chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).value = ""`, f[0]), nil),
			chromedp.SendKeys(f[0], f[1], chromedp.ByQuery))
	}
	b.run(chromedp.Click(submit, chromedp.ByQuery))
}

func (b *browserRun) cookie() *network.Cookie {
	b.t.Helper()
	var cookies []*network.Cookie
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{b.base}).Do(ctx)
		return err
	}))
	for _, c := range cookies {
		if c.Name == "pytwask_session" {
			return c
		}
	}
	return nil
}

// signUp makes an account through the sign-up form, as a new user would.
func (b *browserRun) signUp(name, pw string) {
	b.t.Helper()
	b.open("/auth/signup")
	b.fill([][2]string{{"#username", name}, {"#password", pw}, {"#password2", pw}}, `main form button`)
	b.waitText("Welcome, " + name + "! Please login")
}

func (b *browserRun) signIn(name, pw string, remember bool) {
	b.t.Helper()
	b.open("/auth/")
	if remember {
		b.run(chromedp.Click(`input[name=remember_me]`, chromedp.ByQuery))
	}
	b.fill([][2]string{{"#username", name}, {"#password", pw}}, `main form[action="/auth/"] button`)
	b.waitText("Logged in successfully.")
}

func (b *browserRun) signOut() {
	b.t.Helper()
	b.run(chromedp.Click(`header form[action="/auth/signout"] button`, chromedp.ByQuery))
	b.waitText("Logged out successfully.")
}

// checkClean fails the test on console errors and requests to other hosts.
func (b *browserRun) checkClean() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("browser console: %s", e)
	}
	for _, u := range b.foreign {
		b.t.Errorf("a request left %s: %s", b.host, u)
	}
}

// TestBrowserJourney walks the whole site as a person would.
func TestBrowserJourney(t *testing.T) {
	b := startBrowser(t)

	// Sign-up, with the messages for a weak password and a taken name.
	signUp := func(name, pw string) {
		b.open("/auth/signup")
		b.fill([][2]string{{"#username", name}, {"#password", pw}, {"#password2", pw}}, `main form button`)
	}
	signUp("alice", "weak")
	b.waitText("Weak password.")
	signUp("alice", "Passw0rd!")
	b.waitText("Welcome, alice! Please login")
	signUp("bob", "Passw0rd!")
	b.waitText("Welcome, bob! Please login")
	signUp("bob", "Passw0rd!")
	b.waitText("username bob already exists")

	// Sign in without "Keep me logged in": a browser-session cookie.
	b.signIn("alice", "Passw0rd!", false)
	if c := b.cookie(); c == nil || !c.Session || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		t.Errorf("session cookie without Keep me logged in: %+v", c)
	}

	// Tweets are shown exactly as typed: markup as text, line breaks kept.
	for _, tweet := range []string{`<script>alert("x")</script>`, "line one\nline two\n\nline four"} {
		b.open("/tweets/user_timeline")
		b.fill([][2]string{{"#tweet", tweet}}, `main form[action="/tweets/user_timeline"] button`)
		b.waitText("Tweet successfully posted")
	}
	var bodies []string
	b.eval(`[...document.querySelectorAll('.tweet .body')].map(e => e.innerText)`, &bodies)
	if len(bodies) != 2 || bodies[0] != "line one\nline two\n\nline four" || bodies[1] != `<script>alert("x")</script>` {
		t.Errorf("tweets shown as %q", bodies)
	}
	// A tweet's bidi controls stay inside it: each body is isolated.
	var isolated bool
	b.eval(`[...document.querySelectorAll('.tweet .body')].every(e => getComputedStyle(e).unicodeBidi === 'isolate' && e.dir === 'auto')`, &isolated)
	if !isolated {
		t.Error("tweet bodies are not bidi-isolated (dir=auto, unicode-bidi: isolate)")
	}

	// Follow and unfollow from bob's page.
	b.open("/tweets/user_history/bob")
	b.run(chromedp.Click(`form[action="/tweets/follow/bob"] button`, chromedp.ByQuery))
	b.waitText("Followed bob")
	b.waitText("Unfollow")
	b.run(chromedp.Click(`form[action="/tweets/unfollow/bob"] button`, chromedp.ByQuery))
	b.waitText("Unfollowed bob")

	// A tweet's time leads to its page, where a reply is posted; the reply
	// says whom it answers, and its link leads back.
	b.open("/tweets/user_timeline")
	b.run(chromedp.Click(`.tweet .permalink`, chromedp.ByQuery))
	b.waitText("0 replies")
	b.fill([][2]string{{"#tweet", "answering myself"}}, `main form[action^="/tweets/reply/"] button`)
	b.waitText("Reply posted")
	b.waitText("1 reply")
	var replyTo string
	b.eval(`document.querySelector('.replies .reply-to').innerText`, &replyTo)
	if replyTo != "Replying to @alice" {
		t.Errorf("the reply says %q", replyTo)
	}
	// The reply is listed on its parent's page, where the browser is.
	var parent, here string
	b.eval(`document.querySelector('.replies .reply-to a').getAttribute('href')`, &parent)
	b.eval(`location.pathname`, &here)
	if parent != here {
		t.Errorf("the reply's link leads to %s; want its parent's page, %s", parent, here)
	}
	b.run(chromedp.Click(`.replies .reply-to a`, chromedp.ByQuery))
	b.waitPath(parent)
	b.waitText("1 reply")

	// A long timeline, paged with Older and Newer.
	rdb := b.rs.Client()
	defer rdb.Close()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	bobID := rdb.HGet(context.Background(), "users", "bob").Val()
	for i := 1; i <= 50; i++ {
		if _, err := st.Post(context.Background(), bobID, fmt.Sprintf("bob's tweet %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	b.open("/tweets/user_history/bob")
	b.run(chromedp.Click(`a[rel=next]`, chromedp.ByQuery))
	b.waitText("bob's tweet 30")
	var loc string
	var count int
	b.run(chromedp.Location(&loc))
	b.eval(`document.querySelectorAll('.tweet').length`, &count)
	if !strings.HasSuffix(loc, "?page=2") || count != 20 {
		t.Errorf("Older led to %s with %d tweets", loc, count)
	}
	b.run(chromedp.Click(`a[rel=next]`, chromedp.ByQuery))
	b.waitText("bob's tweet 1\n")
	b.run(chromedp.Click(`a[rel=prev]`, chromedp.ByQuery))
	b.waitText("bob's tweet 30")

	// Change the password, sign out, and sign in again, kept logged in.
	b.open("/auth/user_settings")
	b.fill([][2]string{{"#old_password", "Passw0rd!"}, {"#new_password", "N3w-Passw0rd"}, {"#new_password2", "N3w-Passw0rd"}}, `main form button`)
	b.waitText("Password successfully changed")
	b.signOut()
	b.signIn("alice", "N3w-Passw0rd", true)
	c := b.cookie()
	if c == nil || c.Session {
		t.Fatalf("Keep me logged in gave no persistent cookie: %+v", c)
	}
	if left := time.Until(time.Unix(int64(c.Expires), 0)); left < 7*24*time.Hour-time.Hour || left > 7*24*time.Hour+time.Minute {
		t.Errorf("persistent cookie lives %v; want 7 days", left)
	}
	// The sign-in offers to end every other session.
	b.run(chromedp.Click(`form.flash.others button`, chromedp.ByQuery))
	b.waitText("Signed out of every other session.")
	b.checkClean()
}

// TestBrowserPages takes a screenshot of every page at 1280×800 and at
// 360×740 (a phone), there also in dark colours, and checks each with
// pageProblems: nothing wider than the screen, tap targets large enough,
// one h1, and axe-core's rules (labels, contrast in both schemes, ...).
func TestBrowserPages(t *testing.T) {
	b := startBrowser(t)
	rdb := b.rs.Client()
	defer rdb.Close()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	ctx := context.Background()
	for _, name := range []string{"alice", "bob"} {
		if err := st.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
	}
	bobID := rdb.HGet(ctx, "users", "bob").Val()
	for i := range 60 {
		body := fmt.Sprintf("Tweet %d from bob: a few words about the weather, the garden and a longish-unbreakable-word-to-test-wrapping-%d.", i, i)
		if i%7 == 0 {
			body += "\nwith a second line"
		}
		st.Post(ctx, bobID, body)
	}
	// A conversation: a reply by alice to bob's last tweet, and bob's
	// answer to it.
	last := rdb.Get(ctx, "next_tweet_id").Val()
	aliceSecret, _ := st.Login(ctx, "", "alice", "Passw0rd!")
	reply, err := st.Reply(ctx, aliceSecret, last, "A reply from alice, which says whom it answers.")
	if err != nil {
		t.Fatal(err)
	}
	bobSecret, _ := st.Login(ctx, "", "bob", "Passw0rd!")
	if _, err := st.Reply(ctx, bobSecret, reply, "And bob's answer to it."); err != nil {
		t.Fatal(err)
	}

	pages := []struct {
		name, path string
		signedIn   bool
		prepare    func()
	}{
		{"welcome", "/auth/", false, nil},
		{"signup-errors", "/auth/signup", false, func() {
			b.fill([][2]string{{"#username", "1x"}, {"#password", "weak"}, {"#password2", "weak"}}, `main form button`)
			b.waitText("Invalid username.")
		}},
		{"general-timeline", "/tweets/general_timeline", false, nil},
		{"not-found", "/no/such/page", false, nil},
		{"user-timeline", "/tweets/user_timeline", true, nil},
		{"user-history", "/tweets/user_history/bob", true, nil},
		{"settings", "/auth/user_settings", true, nil},
		{"conversation", "/tweets/" + reply, true, nil},
		{"notifications", "/notifications", true, nil},
		{"signout", "/auth/signout", true, nil},
	}
	signedIn := false
	for _, p := range pages {
		if p.signedIn && !signedIn {
			b.signIn("alice", "Passw0rd!", false)
			b.open("/tweets/user_history/bob")
			b.run(chromedp.Click(`form[action="/tweets/follow/bob"] button`, chromedp.ByQuery))
			b.waitText("Followed bob")
			// Tweets posted after the follow reach alice's timeline.
			for i := range 3 {
				st.Post(ctx, bobID, fmt.Sprintf("After alice followed me, tweet %d.\nSecond line.", i))
			}
			signedIn = true
		}
		for _, size := range []struct {
			name string
			w, h int64
			dark bool // the system asks for dark colours
		}{{"desktop", 1280, 800, false}, {"phone", 360, 740, false}, {"phone-dark", 360, 740, true}} {
			b.run(chromedp.EmulateViewport(size.w, size.h), colorScheme(size.dark))
			b.open(p.path)
			if p.prepare != nil {
				p.prepare()
			}
			checkedShot(t, b, p.name+"-"+size.name, p.name+" at "+size.name)
			var dark bool
			b.eval(`(() => { const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
				return r + g + b < 150; })()`, &dark)
			if dark != size.dark {
				t.Errorf("%s at %s: the page's background is dark: %v", p.name, size.name, dark)
			}
		}
	}

	// A link preview reads a tweet's page's Open Graph tags: as Chromium
	// parses them, the tweet's text, whatever it holds.
	hostile := `"><script>alert(1)</script> & 'it' <b>`
	id, err := st.Post(ctx, bobID, hostile)
	if err != nil {
		t.Fatal(err)
	}
	b.open("/tweets/" + id)
	var preview []string
	b.eval(`["og:title", "og:description"].map(p => document.querySelector('meta[property="' + p + '"]').content)`, &preview)
	if want := []string{"bob: “" + hostile + "”", hostile}; !slices.Equal(preview, want) {
		t.Errorf("the tweet's page tells link previews %q; want %q", preview, want)
	}

	// A tweet's time is said in the reader's time zone where the browser
	// knows it (the page says UTC): Tokyo here, nine hours ahead.
	b.run(emulation.SetTimezoneOverride("Asia/Tokyo"), emulation.SetLocaleOverride().WithLocale("en-US"))
	b.open("/tweets/general_timeline")
	var times [][2]string
	b.eval(`[...document.querySelectorAll("li.tweet time[datetime]")].slice(0, 3).map(t => [t.getAttribute("datetime"), t.title])`, &times)
	if len(times) == 0 {
		t.Error("no tweet times on the general timeline")
	}
	for _, tm := range times {
		at, err := time.Parse(time.RFC3339, tm[0])
		if err != nil {
			t.Fatal(err)
		}
		if want := at.In(time.FixedZone("JST", 9*3600)).Format("15:04"); !strings.Contains(tm[1], want+" GMT+9") {
			t.Errorf("a tweet posted at %s says %q; want the time in Tokyo, %s GMT+9", tm[0], tm[1], want)
		}
	}
	b.checkClean()
}

// colorScheme has Chromium tell pages that the system asks for dark
// colours, or for light ones.
func colorScheme(dark bool) chromedp.Action {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	return emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}})
}

// checkedShot saves a screenshot of b's page as name.png (shotOf) and
// reports each problem pageProblems finds on it, after where.
func checkedShot(t *testing.T, b *browserRun, name, where string) {
	t.Helper()
	shotOf(t, b, name)
	for _, p := range b.pageProblems() {
		t.Errorf("%s: %s", where, p)
	}
}

// pageProblems returns what is wrong with b's page for a person: what
// pageChecks finds, and each element that breaks one of axe-core's rules
// (its default set: WCAG A and AA, and its best practices).
func (b *browserRun) pageProblems() []string {
	b.t.Helper()
	var problems []string
	b.eval(pageChecks, &problems)
	if b.axe == "" {
		return problems
	}
	var loaded bool
	if b.eval(`typeof axe === "object"`, &loaded); !loaded {
		b.eval(b.axe+";true", &loaded) // DevTools' evaluation is not bound by the page's CSP
	}
	var broken []string
	b.run(chromedp.Evaluate(`axe.run(document).then(r => r.violations.flatMap(v =>
		v.nodes.map(n => "axe-core " + v.id + " (" + v.impact + "): " + v.help + ": " + n.target.join(" "))))`,
		&broken, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return append(problems, broken...)
}

// pageChecks returns what axe-core does not check: overflow, tap targets
// smaller than 44×44 px (axe-core's rule asks for 24), and a page without
// exactly one h1.
const pageChecks = `(() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.push('the page is ' + document.documentElement.scrollWidth + 'px wide in a ' + window.innerWidth + 'px window');
  for (const el of document.querySelectorAll('button, nav a, .pager a, input[type=checkbox]')) {
    const r = el.getBoundingClientRect();
    const target = el.type === 'checkbox' ? el.closest('label').getBoundingClientRect() : r;
    if (target.height < 44 || target.width < 24) out.push('small tap target ' + el.outerHTML.slice(0, 60) + ' ' + Math.round(target.width) + 'x' + Math.round(target.height));
  }
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) out.push(h1 + ' h1 elements');
  return out;
})()`
