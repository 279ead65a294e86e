package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// TestClusterUnderLoad runs the site on a Redis Cluster of three primaries
// with a replica each, speaking only TLS as managed Clusters with
// encryption in transit do (REDIS_TLS_CA_FILE; the other Cluster tests use
// plain TCP): a user's journey, then page views and posts while 2,000
// slots move from one primary to another (redis-cli --cluster reshard).
// Every request is answered with success, and every post acknowledged is
// on the cluster and on its followers' timelines.
func TestClusterUnderLoad(t *testing.T) {
	cl := redistest.StartClusterTLS(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	var env []string
	for _, e := range siteEnv() {
		if !strings.HasPrefix(e, "PYTWASK_SECRET_KEY=") { // the cookie key is made and kept in the cluster
			env = append(env, e)
		}
	}
	env = append(env, cl.Env()...)
	env = append(env, "PYTWASK_LISTEN="+addr, "PYTWASK_SIGNIN_LIMIT_CLIENT=0", "PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0")
	p := start(t, env)
	base := "http://" + addr

	browser := func(name string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		for _, step := range []struct{ path, want string }{
			{"/auth/signup", "Welcome, " + name + "! Please login"},
			{"/auth/", "Logged in successfully."},
		} {
			form := url.Values{"username": {name}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}}
			res, err := c.PostForm(base+step.path, form)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(b), step.want) {
				t.Fatalf("%s as %s: %d\n%s", step.path, name, res.StatusCode, b)
			}
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c
	}
	authors := []string{"alice", "bob", "carol", "dave"}
	clients := map[string]*http.Client{}
	for _, a := range authors {
		clients[a] = browser(a)
	}
	// Everybody follows everybody.
	for _, a := range authors {
		for _, b := range authors {
			if a == b {
				continue
			}
			res, err := clients[a].PostForm(base+"/tweets/follow/"+b, nil)
			if err != nil || res.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s follows %s: %v", a, b, err)
			}
			res.Body.Close()
		}
	}

	// Every post must be on every follower's timeline, so no timeline may
	// pass its cap (1,000) and be trimmed: posts are paced to last through
	// the reshard, and a fast machine stops posting at 900 (it reached
	// 1,108 with a 40 ms pause).
	var posts atomic.Int32
	stopLoad := runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		author := authors[g%len(authors)]
		if g%2 == 0 || posts.Add(1) > 900 {
			return clients[author].Get(base + "/tweets/user_timeline")
		}
		o.author, o.body = author, fmt.Sprintf("during the reshard %d-%d", g, n)
		return clients[author].PostForm(base+"/tweets/user_timeline", url.Values{"tweet": {o.body}})
	}, func(o outcome) time.Duration {
		if o.body != "" {
			return 120 * time.Millisecond
		}
		return 5 * time.Millisecond
	})
	time.Sleep(time.Second)
	started := time.Now()
	if err := cl.Reshard(2000); err != nil {
		t.Error(err)
	}
	resharding := time.Since(started)
	time.Sleep(time.Second)
	statuses := map[int]int{}
	acked := map[string]string{} // body -> author
	for _, o := range stopLoad() {
		status := o.status
		if o.err != nil {
			status = -1
		}
		statuses[status]++
		if o.body != "" && status == http.StatusSeeOther {
			acked[o.body] = o.author
		}
	}
	for status, n := range statuses {
		if status != http.StatusOK && status != http.StatusSeeOther {
			t.Errorf("%d requests answered %d during the reshard", n, status)
		}
	}

	// Every acknowledged post is on its author's page and, once the fan-out
	// is done, on the other users' timelines, once.
	rdb := cl.Client()
	defer rdb.Close()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for rdb.XLen(ctx, "pytwask:fanout").Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("fan-out jobs still queued after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids := map[string]string{} // body -> tweet id
	for _, a := range authors {
		uid := rdb.HGet(ctx, "users", a).Val()
		for _, id := range rdb.LRange(ctx, "tweets_by:"+uid, 0, -1).Val() {
			ids[rdb.HGet(ctx, "tweet:"+id, "body").Val()] = id
		}
	}
	lost, wrong := 0, 0
	for body, author := range acked {
		id, ok := ids[body]
		if !ok {
			lost++
			continue
		}
		for _, other := range authors {
			if other == author {
				continue
			}
			uid := rdb.HGet(ctx, "users", other).Val()
			n := 0
			for _, tid := range rdb.LRange(ctx, "timeline:"+uid, 0, -1).Val() {
				if tid == id {
					n++
				}
			}
			if n != 1 {
				wrong++
			}
		}
	}
	if lost > 0 || wrong > 0 {
		t.Errorf("of %d acknowledged posts, %d lost and %d missing or doubled on a follower's timeline", len(acked), lost, wrong)
	}
	t.Logf("on a Redis Cluster, 2,000 slots moved in %v under load: answers %v; %d posts acknowledged, %d lost",
		resharding.Round(time.Millisecond), statuses, len(acked), lost)
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
