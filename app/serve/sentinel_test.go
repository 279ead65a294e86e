package serve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

// TestSentinelFailover runs the site on a primary and replica watched by
// three Sentinels, under page views and posts (one author with enough
// followers that her posts are fan-out jobs), and kills the primary, or
// has the Sentinels fail over as an operator does before maintenance. The
// site answers 503 while the Sentinels fail over, never 500 or nothing,
// then serves from the promoted replica without a restart; no post it
// acknowledged is lost, and every fan-out job completes, each follower
// getting each tweet once, within moments.
func TestSentinelFailover(t *testing.T) {
	t.Run("primary killed", func(t *testing.T) { testSentinelFailover(t, true) })
	t.Run("planned", func(t *testing.T) { testSentinelFailover(t, false) })
}

func testSentinelFailover(t *testing.T, kill bool) {
	ss := redistest.StartSentinels(t)
	rdb := ss.Client()
	defer rdb.Close()
	ctx := context.Background()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	authors := []string{"star", "author1", "author2", "author3"}
	for _, name := range authors {
		if err := st.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
	}
	// The star's followers: more than a post pushes to itself, so that her
	// posts go through the fan-out stream. They need not be accounts.
	starID := rdb.HGet(ctx, "users", "star").Val()
	const followers = store.InlineFanOut + 500
	var zs []redis.Z
	for i := range followers {
		zs = append(zs, redis.Z{Score: float64(time.Now().Unix() - 60), Member: strconv.Itoa(1_000_000 + i)})
	}
	if err := rdb.ZAdd(ctx, "follower:"+starID, zs...).Err(); err != nil {
		t.Fatal(err)
	}

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env := append(siteEnv(), ss.Env()...)
	env = append(env, "PYTWASK_LISTEN="+addr, "REDIS_WAIT_REPLICAS=1", "REDIS_WAIT_TIMEOUT=500ms",
		"PYTWASK_SIGNIN_LIMIT_CLIENT=0", "PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0")
	p := start(t, env)
	base := "http://" + addr

	posters := make([]*http.Client, len(authors))
	for i, a := range authors {
		jar, _ := cookiejar.New(nil)
		posters[i] = &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if code := signIn(t, posters[i], base, a, "Passw0rd!"); code != http.StatusSeeOther {
			t.Fatalf("sign-in as %s: %d", a, code)
		}
	}

	reader := &http.Client{Timeout: 10 * time.Second}
	stopLoad := runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		if g%2 == 0 {
			return reader.Get(base + "/tweets/general_timeline")
		}
		i := (g / 2) % len(authors)
		o.author, o.body = authors[i], fmt.Sprintf("failover test %d-%d", g, n)
		return posters[i].PostForm(base+"/tweets/user_timeline", url.Values{"tweet": {o.body}})
	}, every(20*time.Millisecond))

	time.Sleep(2 * time.Second)
	old := ss.CurrentPrimary()
	killed := time.Now()
	if kill {
		ss.Kill(old)
	} else {
		ss.Failover()
	}
	deadline := time.Now().Add(30 * time.Second)
	for ss.CurrentPrimary() == old {
		if time.Now().After(deadline) {
			t.Fatal("the Sentinels did not fail over within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	failedOver := time.Since(killed)
	// Once every Sentinel knows of the failover, a killed primary returns,
	// empty, as the new primary's replica, so that posts can be confirmed
	// again; a demoted one is a replica already.
	primary := ss.WaitAgreed(time.Now().Add(30 * time.Second))
	if kill {
		ss.RestartAsReplica(old, primary)
	}
	ss.WaitInSync(old, time.Now().Add(30*time.Second))
	time.Sleep(3 * time.Second)
	results := stopLoad()
	stopped := time.Now()

	// Answers: only 200, 303 and 503; the longest time without a success.
	statuses := map[int]int{}
	var acked []outcome
	var lastOK time.Time
	var gap time.Duration
	for _, o := range results {
		if o.err != nil {
			t.Errorf("a request got no answer: %v", o.err)
			continue
		}
		statuses[o.status]++
		switch o.status {
		case http.StatusOK, http.StatusSeeOther:
			if !lastOK.IsZero() {
				gap = max(gap, o.started.Sub(lastOK))
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
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Error("no request saw the failover; the test did not test it")
	}

	// Every acknowledged post is on the new primary, where pytwis reads it.
	byBody := map[string]string{}
	for _, a := range authors {
		uid := rdb.HGet(ctx, "users", a).Val()
		for _, id := range rdb.LRange(ctx, "tweets_by:"+uid, 0, -1).Val() {
			byBody[rdb.HGet(ctx, "tweet:"+id, "body").Val()] = id
		}
	}
	lost := 0
	var starTweets []string
	for _, o := range acked {
		id, ok := byBody[o.body]
		switch {
		case !ok:
			lost++
			t.Errorf("acknowledged post %q is lost", o.body)
		case o.author == "star":
			starTweets = append(starTweets, id)
		}
	}

	// Every fan-out job completes (those cut off by the failover too), and
	// each follower has each of the star's tweets once.
	deadline = time.Now().Add(60 * time.Second)
	for rdb.XLen(ctx, "pytwask:fanout").Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fan-out jobs still queued after 60 s", rdb.XLen(ctx, "pytwask:fanout").Val())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A worker's own jobs left pending are run at its next look for idle
	// ones (JobIdle/3), not left for another's claim after JobIdle.
	if took := time.Since(stopped); took > store.JobIdle/2 {
		t.Errorf("the fan-out jobs ended %v after the load; want within %v", took.Round(time.Second), store.JobIdle/2)
	}
	missing, twice := 0, 0
	missingBy := map[string]int{}
	defer func() {
		if missing > 0 {
			t.Logf("missing by tweet: %v; keys left: %v", missingBy, rdb.Keys(ctx, "pytwask:fanout*").Val())
		}
	}()
	for i := range followers {
		ids := rdb.LRange(ctx, "timeline:"+strconv.Itoa(1_000_000+i), 0, -1).Val()
		count := map[string]int{}
		for _, id := range ids {
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
		t.Errorf("of %d star tweets × %d followers, %d missing and %d twice", len(starTweets), followers, missing, twice)
	}
	if len(starTweets) == 0 {
		t.Error("no post of the star was acknowledged; the fan-out was not tested")
	}
	t.Logf("Sentinel failover under load: %d requests sent, %d answered (%d×200, %d×303, %d×503), %v without a successful answer; "+
		"the Sentinels named the new primary %v after the kill; %d posts acknowledged (%d with fan-out jobs), %d lost",
		len(results), len(results)-countErrors(results), statuses[200], statuses[303], statuses[503], gap.Round(10*time.Millisecond),
		failedOver.Round(10*time.Millisecond), len(acked), len(starTweets), lost)
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
