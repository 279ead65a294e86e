package serve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
	"pytwask/app/web"
)

// TestSentinelFailover runs the site on a primary and replica watched by
// three Sentinels, under page views and posts (failoverLoad), and kills
// the primary; or pauses it, as a primary that hangs or whose host drops
// packets, until after the failover (then it returns, and the Sentinels
// make it a replica); or has the Sentinels fail over as an operator does
// before maintenance, with every process speaking only TLS. The site answers 503 while the Sentinels fail over,
// never 500 or nothing, then serves from the promoted replica without a
// restart; no post it acknowledged is lost, and every fan-out job
// completes, each follower getting each tweet once, within moments.
func TestSentinelFailover(t *testing.T) {
	for _, how := range []string{"primary killed", "primary hangs", "planned, over TLS"} {
		t.Run(how, func(t *testing.T) { testSentinelFailover(t, how) })
	}
}

func testSentinelFailover(t *testing.T, how string) {
	start := redistest.StartSentinels
	if how == "planned, over TLS" {
		// Every process speaks only TLS, the Sentinels too:
		// REDIS_TLS_CA_FILE turns TLS on for both (docs/configuration.md).
		start = redistest.StartSentinelsTLS
	}
	ss := start(t)
	rdb := ss.Client()
	defer rdb.Close()
	site := startFailoverSite(t, rdb, append(ss.Env(), "REDIS_WAIT_REPLICAS=1", "REDIS_WAIT_TIMEOUT=500ms"))
	stopLoad := site.load()

	time.Sleep(2 * time.Second)
	old := ss.CurrentPrimary()
	started := time.Now()
	switch how {
	case "primary killed":
		ss.Kill(old)
	case "primary hangs":
		ss.Pause(old)
	case "planned, over TLS":
		ss.Failover()
	}
	deadline := time.Now().Add(30 * time.Second)
	for ss.CurrentPrimary() == old {
		if time.Now().After(deadline) {
			t.Fatal("the Sentinels did not fail over within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	failedOver := time.Since(started)
	// Once every Sentinel knows of the failover, a killed primary returns,
	// empty, as the new primary's replica, so that posts can be confirmed
	// again; a paused one goes on, and the Sentinels make it a replica; a
	// demoted one is a replica already.
	primary := ss.WaitAgreed(time.Now().Add(30 * time.Second))
	switch how {
	case "primary killed":
		ss.RestartAsReplica(old, primary)
	case "primary hangs":
		ss.Resume(old)
	}
	ss.WaitInSync(old, time.Now().Add(30*time.Second))
	time.Sleep(3 * time.Second)
	r := site.check(stopLoad())
	for _, body := range r.lost {
		t.Errorf("acknowledged post %q is lost", body)
	}
	t.Logf("Sentinel failover under load (%s): %s; the Sentinels named the new primary in %v",
		how, r, failedOver.Round(10*time.Millisecond))
}

// TestClusterFailover runs the site on a Redis Cluster under page views and
// posts (failoverLoad), and kills the primary holding the fan-out stream,
// whose replica takes over once the other primaries agree that it is down
// (the killed node then returns as a replica); or has that replica take
// over as an operator does before maintenance (CLUSTER FAILOVER). The site
// answers 503 meanwhile, never 500 or nothing, then serves on without a
// restart, and every fan-out job completes, each follower getting each
// tweet once. A Cluster has no WAIT here (docs/scaling.md): a post
// acknowledged just before the kill may be lost with the primary, and how
// many were is logged.
func TestClusterFailover(t *testing.T) {
	t.Run("primary killed", func(t *testing.T) { testClusterFailover(t, true) })
	t.Run("planned", func(t *testing.T) { testClusterFailover(t, false) })
}

func testClusterFailover(t *testing.T, kill bool) {
	cl := redistest.StartCluster(t)
	cl.WaitReplicasSeen()
	rdb := cl.Client()
	defer rdb.Close()
	site := startFailoverSite(t, rdb, cl.Env())
	site.planned = !kill
	stopLoad := site.load()

	time.Sleep(2 * time.Second)
	old, err := cl.PrimaryFor("pytwask:fanout")
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if kill {
		cl.Kill(old)
	} else if err := cl.Failover(old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, err := cl.PrimaryFor("pytwask:fanout", old)
		if err == nil && now != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica took over within 30 s: %v %v", now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	failedOver := time.Since(killed)
	if kill {
		cl.Restart(old)
	}
	cl.WaitReplicasSeen()
	time.Sleep(3 * time.Second)
	r := site.check(stopLoad())
	t.Logf("Cluster failover under load: %s; a replica took over %v after the kill",
		r, failedOver.Round(10*time.Millisecond))
}

// failoverSite is the site of a failover test: four authors, one of them
// a star with more followers than a post pushes to itself, so that her
// posts go through the fan-out stream. The followers need not be accounts.
type failoverSite struct {
	t         *testing.T
	rdb       redis.UniversalClient
	p         *proc
	base      string
	authors   []string
	posters   []*http.Client // signed in as the authors
	followers int
	planned   bool // the failover may go unseen: no 503 is required
}

func startFailoverSite(t *testing.T, rdb redis.UniversalClient, env []string) *failoverSite {
	ctx := context.Background()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	s := &failoverSite{t: t, rdb: rdb, authors: []string{"star", "author1", "author2", "author3"}, followers: store.InlineFanOut + 500}
	for _, name := range s.authors {
		if err := st.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
	}
	starID := rdb.HGet(ctx, "users", "star").Val()
	var zs []redis.Z
	for i := range s.followers {
		zs = append(zs, redis.Z{Score: float64(time.Now().Unix() - 60), Member: strconv.Itoa(1_000_000 + i)})
	}
	if err := rdb.ZAdd(ctx, "follower:"+starID, zs...).Err(); err != nil {
		t.Fatal(err)
	}

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env = append(append(siteEnv(), env...), "PYTWASK_LISTEN="+addr,
		"PYTWASK_SIGNIN_LIMIT_CLIENT=0", "PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0")
	s.p = start(t, env)
	s.base = "http://" + addr
	for _, a := range s.authors {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if code := signIn(t, c, s.base, a, "Passw0rd!"); code != http.StatusSeeOther {
			t.Fatalf("sign-in as %s: %d", a, code)
		}
		s.posters = append(s.posters, c)
	}
	return s
}

// load starts page views (the general timeline signed out, the authors'
// timelines signed in) and posts by every author, one request per worker
// every 20 ms; stop ends it and returns the outcomes.
func (s *failoverSite) load() (stop func() []outcome) {
	reader := &http.Client{Timeout: 10 * time.Second}
	return runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		i := (g / 2) % len(s.authors)
		switch {
		case g%2 == 0 && n%2 == 0:
			return reader.Get(s.base + "/tweets/general_timeline")
		case g%2 == 0:
			return s.posters[i].Get(s.base + "/tweets/user_timeline")
		}
		o.author, o.body = s.authors[i], fmt.Sprintf("failover test %d-%d", g, n)
		return s.posters[i].PostForm(s.base+"/tweets/user_timeline", url.Values{"tweet": {o.body}})
	}, every(20*time.Millisecond))
}

// failoverResult is what check found; lost are the acknowledged posts
// that are not in Redis.
type failoverResult struct {
	sent, acked, starPosts int
	statuses               map[int]int
	gap                    time.Duration // the longest time without a successful answer
	slowest                time.Duration // the longest answer
	lost                   []string
}

func (r failoverResult) String() string {
	return fmt.Sprintf("%d requests sent (%d×200, %d×303, %d×503), the slowest answered in %v, %v without a successful answer; %d posts acknowledged (%d with fan-out jobs), %d lost",
		r.sent, r.statuses[200], r.statuses[303], r.statuses[503], r.slowest.Round(10*time.Millisecond), r.gap.Round(10*time.Millisecond),
		r.acked, r.starPosts, len(r.lost))
}

// check checks the outcomes of the load and what Redis holds after it:
// every request answered 200, 303 or 503, some 503 (the failover was
// seen); every fan-out job ends within JobIdle/2 of the load, and each
// follower of the star has each of her acknowledged posts that Redis
// holds once. Then it stops the site, which must exit cleanly.
func (s *failoverSite) check(results []outcome) failoverResult {
	t, rdb, ctx := s.t, s.rdb, context.Background()
	stopped := time.Now()
	r := failoverResult{sent: len(results), statuses: map[int]int{}}
	var acked []outcome
	var lastOK time.Time
	for _, o := range results {
		if o.err != nil {
			t.Errorf("a request got no answer: %v", o.err)
			continue
		}
		r.statuses[o.status]++
		r.slowest = max(r.slowest, o.took)
		switch o.status {
		case http.StatusOK, http.StatusSeeOther:
			if !lastOK.IsZero() {
				r.gap = max(r.gap, o.started.Sub(lastOK))
			}
			lastOK = o.started.Add(o.took)
			if o.body != "" {
				acked = append(acked, o)
			}
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("status %d", o.status)
		}
	}
	r.acked = len(acked)
	if r.statuses[http.StatusServiceUnavailable] == 0 && !s.planned {
		t.Error("no request saw the failover; the test did not test it")
	}

	byBody := map[string]string{}
	for _, a := range s.authors {
		uid := rdb.HGet(ctx, "users", a).Val()
		for _, id := range rdb.LRange(ctx, "tweets_by:"+uid, 0, -1).Val() {
			byBody[rdb.HGet(ctx, "tweet:"+id, "body").Val()] = id
		}
	}
	var starTweets []string
	for _, o := range acked {
		id, ok := byBody[o.body]
		switch {
		case !ok:
			r.lost = append(r.lost, o.body)
		case o.author == "star":
			starTweets = append(starTweets, id)
		}
	}
	r.starPosts = len(starTweets)
	if len(starTweets) == 0 {
		t.Error("no post of the star was acknowledged; the fan-out was not tested")
	}

	// Every fan-out job completes, those cut off by the failover too. A
	// worker's own jobs left pending are run at its next look for idle
	// ones (JobIdle/3), not left for another's claim after JobIdle.
	deadline := time.Now().Add(60 * time.Second)
	for rdb.XLen(ctx, "pytwask:fanout").Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fan-out jobs still queued after 60 s", rdb.XLen(ctx, "pytwask:fanout").Val())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if took := time.Since(stopped); took > store.JobIdle/2 {
		t.Errorf("the fan-out jobs ended %v after the load; want within %v", took.Round(time.Second), store.JobIdle/2)
	}
	missing, twice := 0, 0
	missingBy := map[string]int{}
	for i := range s.followers {
		count := map[string]int{}
		for _, id := range rdb.LRange(ctx, "timeline:"+strconv.Itoa(1_000_000+i), 0, -1).Val() {
			count[id]++
		}
		for _, id := range starTweets {
			switch {
			case count[id] == 0:
				missing++
				missingBy[id]++
			case count[id] > 1:
				twice++
			}
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("of %d star tweets × %d followers, %d missing and %d twice (missing by tweet: %v)",
			len(starTweets), s.followers, missing, twice, missingBy)
	}

	// Live updates go on: the site reads their stream from the new primary.
	// A page's stream (held by curl) tells of a post made after it opened.
	// (One open through the failover may be ended as behind when the site
	// catches up; a browser then reconnects and gets what it missed.)
	curl := exec.Command(need(t, "curl"), "-sSN", "--max-time", "30", s.base+"/events?stream=public")
	stream := &lockedBuffer{}
	curl.Stdout, curl.Stderr = stream, stream
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { curl.Process.Kill(); curl.Wait() }()
	for !strings.HasPrefix(stream.String(), ": live") {
		time.Sleep(10 * time.Millisecond)
	}
	// With REDIS_WAIT_REPLICAS, a post waits for a replica, which a busy
	// machine may keep past REDIS_WAIT_TIMEOUT (a 503): tried again.
	for try := 0; ; try++ {
		res, err := s.posters[1].PostForm(s.base+"/tweets/user_timeline", url.Values{"tweet": {"after the failover"}})
		if err != nil {
			t.Fatalf("a post after the failover: %v", err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			break
		}
		if try == 20 {
			t.Fatalf("a post after the failover: %d", res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stream.String(), "after the failover"); {
		if time.Now().After(deadline) {
			t.Fatalf("a live stream did not tell of a post after the failover:\n%s", stream.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := s.p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	return r
}

// TestClusterNodeHangs pauses the primary holding the general timeline
// for longer than a page may take (web.PageBuild), under page views: the
// node takes connections and answers nothing, as one that hangs or whose
// host drops packets does until the Cluster fails it over. Pages answer
// 503 within PageBuild and a second, never later and never 500; when the
// node resumes, they are served again.
func TestClusterNodeHangs(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := cl.Client()
	defer rdb.Close()
	site := startFailoverSite(t, rdb, cl.Env())
	reader := &http.Client{Timeout: time.Minute}
	stopLoad := runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		if g%2 == 0 {
			return reader.Get(site.base + "/tweets/general_timeline")
		}
		return site.posters[g/2%len(site.posters)].Get(site.base + "/tweets/user_timeline")
	}, every(20*time.Millisecond))
	time.Sleep(time.Second)
	node, err := cl.PrimaryFor("timeline")
	if err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	cl.Pause(node)
	time.Sleep(web.PageBuild + 3*time.Second)
	cl.Resume(node)
	resumed := time.Now()
	time.Sleep(2 * time.Second)
	statuses := map[int]int{}
	var slowest time.Duration
	servedAfter := false
	for _, o := range stopLoad() {
		if o.err != nil {
			t.Errorf("a request got no answer: %v", o.err)
			continue
		}
		statuses[o.status]++
		slowest = max(slowest, o.took)
		switch o.status {
		case http.StatusOK:
			servedAfter = servedAfter || o.started.After(resumed)
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("status %d", o.status)
		}
	}
	if limit := web.PageBuild + time.Second; slowest > limit {
		t.Errorf("the slowest page took %v while a node hung; want within %v", slowest.Round(time.Millisecond), limit)
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Error("no page answered 503 while the node hung")
	}
	if !servedAfter {
		t.Error("no page was served after the node resumed")
	}
	t.Logf("a Cluster node paused for %v under page views: %v; the slowest page took %v",
		resumed.Sub(paused).Round(100*time.Millisecond), statuses, slowest.Round(time.Millisecond))
	if code := site.p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
