package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
	"pytwask/app/store"
)

// TestInstancesBehindNginx runs two pytwask processes behind one nginx
// upstream (the shipped configuration, both sockets, no sticky sessions),
// sharing one Redis and no key of their own (the cookie key is generated
// once in Redis). A user's journey alternates between them; a post to many
// followers is fanned out once by the two processes' workers; then one
// process is killed under load: the other keeps answering, nginx moves
// requests to it, and no post answered with success is lost.
func TestInstancesBehindNginx(t *testing.T) {
	nginx := need(t, "nginx")
	rs := redistest.Start(t)
	dir := socketDir(t)
	var env []string
	for _, e := range baseEnv(rs) {
		if !strings.HasPrefix(e, "PYTWASK_SECRET_KEY=") {
			env = append(env, e)
		}
	}
	env = append(env, "PYTWASK_SIGNIN_LIMIT_CLIENT=0", "PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0")
	socks := []string{filepath.Join(dir, "p1.sock"), filepath.Join(dir, "p2.sock")}
	procs := []*proc{start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[0])), start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[1]))}

	port := freePort(t)
	conf := shippedNginxConf(t, port, "server unix:"+socks[0]+";\n    server unix:"+socks[1]+";")
	// The edge's per-address limits would refuse this test's load, which
	// comes from one address; pytwask's own limits are off above too.
	conf = strings.NewReplacer("limit_req zone=pytwask_signin burst=10 nodelay;", "",
		"limit_req zone=pytwask_post burst=30 nodelay;", "", "limit_conn pytwask_conn 50;", "").Replace(conf)
	runNginx(t, nginx, dir, conf)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitUp(t, base+"/healthz")

	// The journey: every step alternates instances (nginx's round robin).
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second}
	}
	c := browser()
	step := func(path string, form url.Values, want string) {
		t.Helper()
		var res *http.Response
		var err error
		if form == nil {
			res, err = c.Get(base + path)
		} else {
			res, err = c.PostForm(base+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d, want a page with %q:\n%s", path, res.StatusCode, want, b)
		}
	}
	step("/auth/signup", url.Values{"username": {"bob"}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}}, "Welcome, bob! Please login")
	step("/auth/signup", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}}, "Welcome, alice! Please login")
	step("/auth/", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}}, "Logged in successfully.")
	for i := range 4 {
		step("/tweets/user_timeline", url.Values{"tweet": {fmt.Sprintf("hello %d from two instances", i)}}, "Tweet successfully posted")
		step("/tweets/user_timeline", nil, fmt.Sprintf("hello %d from two instances", i))
	}
	step("/tweets/follow/bob", url.Values{}, "Followed bob")
	step("/auth/user_settings", nil, `href="/tweets/user_history/bob"`)
	step("/auth/user_settings", nil, `href="/tweets/user_history/bob"`)
	for i, p := range procs {
		if n := len(p.lines(`"path":"/tweets/user_timeline"`)); n < 3 {
			t.Errorf("instance %d served %d of the journey's timeline requests; nginx should alternate", i+1, n)
		}
	}

	// A post to more followers than a post pushes to itself: the two
	// processes' workers fan it out once.
	rdb := rs.Client()
	defer rdb.Close()
	ctx := context.Background()
	aliceID := rdb.HGet(ctx, "users", "alice").Val()
	const followers = store.InlineFanOut + 300
	var zs []redis.Z
	for i := range followers {
		zs = append(zs, redis.Z{Score: float64(time.Now().Unix() - 60), Member: strconv.Itoa(1_000_000 + i)})
	}
	rdb.ZAdd(ctx, "follower:"+aliceID, zs...)
	for i := range 6 {
		step("/tweets/user_timeline", url.Values{"tweet": {fmt.Sprintf("to many %d", i)}}, "Tweet successfully posted")
	}
	waitFanOut(t, rdb)
	for i := range followers {
		ids := rdb.LRange(ctx, "timeline:"+strconv.Itoa(1_000_000+i), 0, -1).Val()
		if len(ids) != 6 {
			t.Fatalf("follower %d has %d tweets on the timeline; want the 6 posts once each: %v", i, len(ids), ids)
		}
	}

	// Load through nginx, and one instance killed in the middle of it.
	posters := make([]*http.Client, 4)
	for i := range posters {
		posters[i] = browser()
		name := fmt.Sprintf("poster%d", i)
		res, err := posters[i].PostForm(base+"/auth/signup", url.Values{"username": {name}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		res, err = posters[i].PostForm(base+"/auth/", url.Values{"username": {name}, "password": {"Passw0rd!"}})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("sign-in as %s: %v", name, err)
		}
		res.Body.Close()
	}
	reader := &http.Client{Timeout: 10 * time.Second}
	for _, c := range posters {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	stopLoad := runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		if g%2 == 0 {
			return reader.Get(base + "/tweets/general_timeline")
		}
		o.body = fmt.Sprintf("instances test %d-%d", g, n)
		return posters[g/2].PostForm(base+"/tweets/user_timeline", url.Values{"tweet": {o.body}})
	}, every(10*time.Millisecond))
	time.Sleep(time.Second)
	syscall.Kill(procs[0].cmd.Process.Pid, syscall.SIGKILL)
	time.Sleep(2 * time.Second)
	statuses := map[string]map[int]int{"GET": {}, "POST": {}}
	var acked []string
	for _, o := range stopLoad() {
		method := "GET"
		if o.body != "" {
			method = "POST"
		}
		status := o.status
		if o.err != nil {
			status = -1
		}
		statuses[method][status]++
		if method == "POST" && status == http.StatusSeeOther {
			acked = append(acked, o.body)
		}
	}

	// Every page view was answered; a post may fail only with the 502 of a
	// request the killed process had taken (nginx does not send a POST
	// twice), and no post answered 303 is lost.
	for status, n := range statuses["GET"] {
		if status != http.StatusOK {
			t.Errorf("%d page views answered %d", n, status)
		}
	}
	for status, n := range statuses["POST"] {
		if status != http.StatusSeeOther && status != http.StatusBadGateway {
			t.Errorf("%d posts answered %d", n, status)
		}
	}
	if statuses["POST"][http.StatusBadGateway] > 4 {
		t.Errorf("%d posts failed; at most one in flight per poster could", statuses["POST"][http.StatusBadGateway])
	}
	bodies := map[string]bool{}
	for _, key := range rdb.Keys(ctx, "tweet:*").Val() {
		bodies[rdb.HGet(ctx, key, "body").Val()] = true
	}
	lost := 0
	for _, b := range acked {
		if !bodies[b] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged posts lost", lost, len(acked))
	}
	t.Logf("one of two instances killed under load: page views %v, posts %v; %d posts acknowledged, %d lost",
		statuses["GET"], statuses["POST"], len(acked), lost)
}

// waitFanOut waits until no fan-out job is left in the stream.
func waitFanOut(t *testing.T, rdb *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rdb.XLen(context.Background(), "pytwask:fanout").Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("fan-out jobs still queued after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
