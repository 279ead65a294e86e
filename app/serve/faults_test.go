package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

// loadClient is one user's browser on the unix socket.
func loadClient(t *testing.T, sock string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := unixClient(sock)
	c.Jar = jar
	return c
}

// signUpOver signs name up with the password Passw0rd!, and signs in.
func signUpOver(t *testing.T, c *http.Client, name string) {
	t.Helper()
	res, err := c.PostForm("http://x/auth/signup", url.Values{"username": {name}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up as %s: %d", name, res.StatusCode)
	}
	signInOver(t, c, name)
}

func signInOver(t *testing.T, c *http.Client, name string) {
	t.Helper()
	res, err := c.PostForm("http://x/auth/", url.Values{"username": {name}, "password": {"Passw0rd!"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/tweets/user_timeline" {
		t.Fatalf("sign-in as %s: %d", name, res.StatusCode)
	}
}

// runLoad runs eight workers, each sending send(g, n, o) for n = 0, 1, ...
// (g the worker's number; send fills in o's author and body for a post)
// and pausing pause(o) after each, until the returned stop is called,
// which waits for them and returns every request's outcome.
func runLoad(send func(g, n int, o *outcome) (*http.Response, error), pause func(o outcome) time.Duration) (stop func() []outcome) {
	var mu sync.Mutex
	var results []outcome
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				o := outcome{started: time.Now()}
				res, err := send(g, n, &o)
				o.took, o.err = time.Since(o.started), err
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					o.status = res.StatusCode
				}
				mu.Lock()
				results = append(results, o)
				mu.Unlock()
				time.Sleep(pause(o))
			}
		})
	}
	return func() []outcome {
		close(done)
		wg.Wait()
		return results
	}
}

// every returns a pause of d whatever the request.
func every(d time.Duration) func(outcome) time.Duration {
	return func(outcome) time.Duration { return d }
}

type outcome struct {
	status  int
	err     error
	took    time.Duration
	started time.Time
	gotConn time.Time // when the request last got a connection, if it did
	// redialed is when the client dialled again after gotConn: Go's
	// transport retries an idempotent request on a new connection when the
	// server closed the kept-alive one before reading it.
	redialed time.Time
	body     string // the tweet, for posts
	author   string
}

// TestRedisKilledUnderLoad kills Redis (SIGKILL) while readers and posters
// keep going, then starts it again from its append-only file: every request
// is answered (200, 303 or 503) within the client's patience, nothing
// crashes, and every tweet whose post was answered with success is in Redis,
// on its author's page and in every follower's timeline.
func TestRedisKilledUnderLoad(t *testing.T) {
	rs := redistest.StartPersistent(t)
	rdb := rs.Client()
	defer rdb.Close()
	ctx := context.Background()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	authors := []string{"author0", "author1", "author2", "author3"}
	var fans []string
	for _, name := range authors {
		if err := st.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		name := fmt.Sprintf("fan%d", i)
		if err := st.Register(ctx, name, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
		secret, _ := st.Login(ctx, "", name, "Passw0rd!")
		v, _ := st.Authenticate(ctx, secret)
		fans = append(fans, v.ID)
		for _, a := range authors {
			if err := st.Follow(ctx, v.ID, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock, "PYTWASK_SIGNIN_LIMIT_CLIENT=0",
		"PYTWASK_POST_LIMIT_USER=0", "PYTWASK_POST_LIMIT_CLIENT=0"))

	posters := make([]*http.Client, len(authors))
	for i, a := range authors {
		posters[i] = loadClient(t, sock)
		signInOver(t, posters[i], a)
	}
	reader := unixClient(sock)
	stopLoad := runLoad(func(g, n int, o *outcome) (*http.Response, error) {
		if g%2 == 0 {
			return reader.Get("http://x/tweets/general_timeline")
		}
		i := (g / 2) % len(authors)
		o.author, o.body = authors[i], fmt.Sprintf("fault test %d-%d", g, n)
		return posters[i].PostForm("http://x/tweets/user_timeline", url.Values{"tweet": {o.body}})
	}, every(5*time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	rs.Stop()
	time.Sleep(1000 * time.Millisecond)
	rs.Restart()
	time.Sleep(1500 * time.Millisecond)
	results := stopLoad()

	statuses := map[int]int{}
	var acked []outcome
	var slowest time.Duration
	for _, o := range results {
		if o.err != nil {
			t.Errorf("a request got no answer: %v", o.err)
			continue
		}
		statuses[o.status]++
		slowest = max(slowest, o.took)
		switch {
		case o.body != "" && o.status == http.StatusSeeOther:
			acked = append(acked, o)
		case o.status != 200 && o.status != http.StatusServiceUnavailable && o.status != http.StatusSeeOther:
			t.Errorf("status %d", o.status)
		}
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Error("no request saw the outage; the test did not test it")
	}
	if slowest > 5*time.Second {
		t.Errorf("a request took %v", slowest)
	}

	// Every acknowledged tweet survived, where pytwis would look for it.
	byBody := map[string]string{}
	for _, key := range rdb.Keys(ctx, "tweet:*").Val() {
		byBody[rdb.HGet(ctx, key, "body").Val()] = strings.TrimPrefix(key, "tweet:")
	}
	// Timelines keep the newest 1,000 ids (a little more between trims):
	// an id older than a list's oldest kept id was trimmed, not lost.
	oldest := map[string]int{}
	kept := func(list, id string) bool {
		o, ok := oldest[list]
		if !ok {
			ids := rdb.LRange(ctx, list, -1, -1).Val()
			o = 0
			if len(ids) == 1 {
				fmt.Sscan(ids[0], &o)
			}
			oldest[list] = o
		}
		var n int
		fmt.Sscan(id, &n)
		return n >= o
	}
	lost := 0
	for _, o := range acked {
		id, ok := byBody[o.body]
		if !ok {
			lost++
			continue
		}
		authorID := rdb.HGet(ctx, "users", o.author).Val()
		lists := []string{"tweets_by:" + authorID, "timeline:" + authorID, "timeline"}
		for _, f := range fans {
			lists = append(lists, "timeline:"+f)
		}
		for _, l := range lists {
			if kept(l, id) && rdb.LPos(ctx, l, id, redis.LPosArgs{}).Err() != nil {
				t.Errorf("acknowledged tweet %s is missing from %s", id, l)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged tweets lost", lost)
	}
	keys := make([]int, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", statuses[k], k))
	}
	t.Logf("Redis killed under load: %d requests sent, %d answered (%s), slowest %v; %d posts acknowledged, %d lost",
		len(results), len(results)-countErrors(results), strings.Join(parts, ", "), slowest.Round(time.Millisecond), len(acked), lost)
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func countErrors(rs []outcome) int {
	n := 0
	for _, o := range rs {
		if o.err != nil {
			n++
		}
	}
	return n
}

// TestRedisComesBackEmpty: Redis returns without its data (a lost disk). The
// site shows an empty site, sessions fail closed (the visitor is signed
// out), and nothing errors or panics.
func TestRedisComesBackEmpty(t *testing.T) {
	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	c := loadClient(t, sock)
	signUpOver(t, c, "alice")
	res, _ := c.PostForm("http://x/tweets/user_timeline", url.Values{"tweet": {"before the loss"}})
	res.Body.Close()

	rs.Stop()
	rs.Restart() // empty
	if st, body := get(t, c, "http://x/tweets/general_timeline"); st != 200 || !strings.Contains(body, "No tweets here yet.") || strings.Contains(body, "before the loss") {
		t.Errorf("general timeline after the loss: %d", st)
	}
	res, err := c.Get("http://x/tweets/user_timeline")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), "/auth/?next=") {
		t.Errorf("the old session still works: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = c.PostForm("http://x/tweets/user_timeline", url.Values{"tweet": {"after the loss"}})
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/auth/?next=") {
		t.Errorf("a post with the old session: %d", res.StatusCode)
	}
	if st, _ := get(t, c, "http://x/tweets/user_history/alice"); st != 404 {
		t.Errorf("alice's page after the loss: %d; want 404", st)
	}
	if strings.Contains(p.logs.String(), "panic") || strings.Contains(p.logs.String(), `"status":500`) {
		t.Errorf("errors after the loss:\n%s", p.logs.String())
	}
	t.Logf("Redis came back empty: general timeline 200 and empty, old session signed out, no 500s")
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestSigtermUnderLoad sends SIGTERM while 16 clients read and 8 slow
// uploads are in flight: every request accepted before SIGTERM completes.
func TestSigtermUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	var mu sync.Mutex
	var results []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := unixClient(sock)
			for {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{started: time.Now()}
				// When the request got a connection: a request whose goroutine
				// was held up between starting and dialling (as under -race on
				// a busy machine) may find the socket already gone, and was
				// never accepted.
				var gotConn, redialed time.Time
				trace := &httptrace.ClientTrace{
					GotConn: func(httptrace.GotConnInfo) { gotConn, redialed = time.Now(), time.Time{} },
					ConnectStart: func(string, string) {
						if !gotConn.IsZero() {
							redialed = time.Now()
						}
					},
				}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://x/tweets/general_timeline", nil)
				res, err := c.Do(req)
				o.took, o.err, o.gotConn, o.redialed = time.Since(o.started), err, gotConn, redialed
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					o.status = res.StatusCode
				} else {
					time.Sleep(5 * time.Millisecond) // refused: the server is going
				}
				mu.Lock()
				results = append(results, o)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	// Slow uploads: accepted, half sent, finished after SIGTERM.
	slow := make([]chan outcome, 8)
	for i := range slow {
		slow[i] = make(chan outcome, 1)
		pr, pw := io.Pipe()
		go func() {
			o := outcome{started: time.Now()}
			res, err := unixClient(sock).Post("http://x/auth/signup", "application/x-www-form-urlencoded", pr)
			o.err = err
			if err == nil {
				res.Body.Close()
				o.status = res.StatusCode
			}
			slow[i] <- o
		}()
		go func() {
			io.WriteString(pw, "username=slow"+fmt.Sprint(i))
			time.Sleep(800 * time.Millisecond)
			io.WriteString(pw, "&password=Passw0rd!&password2=Passw0rd!")
			pw.Close()
		}()
	}
	time.Sleep(300 * time.Millisecond)
	sigAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := range slow {
		o := <-slow[i]
		if o.err != nil || o.status != http.StatusSeeOther {
			t.Errorf("slow upload %d in flight at SIGTERM: %d %v", i, o.status, o.err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	<-p.done
	before, failedBefore, after, refusedAfter := 0, 0, 0, 0
	for _, o := range results {
		// A request sent on a kept-alive connection in the same instant as
		// the server closed it idle was never accepted: count those that got
		// their connection within 10 ms of the signal with the ones after
		// it. So are those that got none, unless refused before the signal.
		// A request whose connection the server closed as idle before
		// reading it (HTTP/1.1 allows it, and Shutdown does it) was never
		// accepted either, however early it got that connection: Go's
		// transport sends it again on a new one, and counts by that dial,
		// which finds the socket gone. Counted by its first connection, such
		// a request once failed this test with "connect: no such file or
		// directory", a dial's error.
		last := o.gotConn
		if !o.redialed.IsZero() {
			last = o.redialed
		}
		accepted := !o.gotConn.IsZero() && last.Before(sigAt.Add(-10*time.Millisecond))
		refusedEarly := o.gotConn.IsZero() && o.started.Add(o.took).Before(sigAt)
		if accepted || refusedEarly {
			before++
			if o.err != nil || o.status != 200 {
				failedBefore++
				t.Errorf("a request sent before SIGTERM failed: %d %v (got its connection %v before the signal, redialled %v after it)", o.status, o.err, sigAt.Sub(o.gotConn), o.redialed.Sub(sigAt))
			}
		} else {
			after++
			if o.err != nil {
				refusedAfter++
			}
		}
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d", code)
	}
	t.Logf("SIGTERM under load: %d requests before the signal, %d failed; 8 slow uploads in flight, all completed; %d requests after it, %d refused; exit 0",
		before, failedBefore, after, refusedAfter)
}

// TestFanOutWorkerKilled: the process is killed (SIGKILL) in the middle of a
// post's fan-out to 100,000 followers. Started again, it takes the job up
// where it was, and every follower ends up with the tweet exactly once.
func TestFanOutWorkerKilled(t *testing.T) {
	rs := redistest.Start(t)
	registerUsers(t, rs, "author")
	rdb := rs.Client()
	defer rdb.Close()
	ctx := context.Background()
	const n = 100_000
	pipe := rdb.Pipeline()
	for i := range n {
		id := strconv.Itoa(i + 10)
		pipe.ZAdd(ctx, "follower:1", redis.Z{Score: 1000, Member: id})
		if pipe.Len() == 10_000 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(socketDir(t), "p.sock")
	env := append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock)
	p := start(t, env)
	c := unixClient(sock)
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	signInOver(t, c, "author")
	res, err := c.PostForm("http://x/tweets/user_timeline", url.Values{"tweet": {"to everybody"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	tweet := rdb.LIndex(ctx, "tweets_by:1", 0).Val()
	if tweet == "" {
		t.Fatalf("the post was not acknowledged: %d", res.StatusCode)
	}
	// Kill it once the job has pushed to some of the followers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs := rdb.Keys(ctx, "pytwask:fanout:job:*").Val()
		if len(jobs) == 1 && rdb.HGet(ctx, jobs[0], "phase").Val() == "push" &&
			rdb.SCard(ctx, strings.Replace(jobs[0], ":job:", ":todo:", 1)).Val() < n-5000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never reached its push phase")
		}
		time.Sleep(time.Millisecond)
	}
	p.cmd.Process.Kill()
	<-p.done
	reached := func() (once, more int) {
		for i := range n {
			if i%10 != 0 { // a tenth of them, every tenth
				continue
			}
			k := 0
			for _, id := range rdb.LRange(ctx, "timeline:"+strconv.Itoa(i+10), 0, -1).Val() {
				if id == tweet {
					k++
				}
			}
			switch {
			case k == 1:
				once++
			case k > 1:
				more++
			}
		}
		return once, more
	}
	onceAtKill, _ := reached()
	if onceAtKill == n/10 {
		t.Fatal("the job was done before the kill: nothing to take up")
	}

	p = start(t, env) // the same workers' names: it takes its jobs up at once
	deadline = time.Now().Add(30 * time.Second)
	for rdb.XLen(ctx, "pytwask:fanout").Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job was not finished after the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	once, more := reached()
	t.Logf("fan-out to %d followers, the process killed mid-job: %d of the sampled %d had the tweet at the kill; after the restart %d once, %d more than once",
		n, onceAtKill, n/10, once, more)
	if once != n/10 || more != 0 {
		t.Errorf("after the restart, %d of %d sampled followers have the tweet once and %d more than once; want all once", once, n/10, more)
	}
	if keys := rdb.Keys(ctx, "pytwask:fanout:*").Val(); len(keys) != 0 {
		t.Errorf("job state left: %v", keys)
	}
	p.stop()
}
