package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

// The fixture is a database written by the real pytwis 0.5, with what pytwis
// itself returned from it ("expect") and every user's password.
const fixture = "testdata/pytwis-db.json"

type fixtureFile struct {
	Passwords map[string]string
	Expect    struct {
		GeneralTimeline [][3]any `json:"general_timeline"`
		Users           map[string]struct {
			Followers, Following []string
			Timeline, Tweets     [][3]any
		}
	}
}

func loadFixture(t *testing.T, s *site) fixtureFile {
	t.Helper()
	if err := redistest.Load(t.Context(), s.rdb, fixture); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// allTweets follows the Older links from path and returns every tweet shown
// as pytwis's [username, unix_time, body].
func (b *browser) allTweets(t *testing.T, path string) [][3]any {
	t.Helper()
	var out [][3]any
	for page := 1; ; page++ {
		p := b.get(path + "?page=" + strconv.Itoa(page))
		p.want(t, 200)
		for _, tw := range p.tweets(t) {
			at, err := time.Parse(time.RFC3339, tw.Datetime)
			if err != nil {
				t.Fatalf("tweet time %q: %v", tw.Datetime, err)
			}
			out = append(out, [3]any{tw.Author, float64(at.Unix()), tw.Body})
		}
		if !strings.Contains(p.body, `rel="next"`) {
			return out
		}
	}
}

func TestPytwisDatabaseCompatibility(t *testing.T) {
	s := newSite(t)
	f := loadFixture(t, s)
	ctx := t.Context()

	browsers := pytwisReads(t, s, f)

	// frank's hash was pbkdf2:sha256, weaker than the policy: sign-in replaced
	// it with a pbkdf2:sha512 hash that Werkzeug (and so pytwis) can verify.
	frank := s.rdb.HGet(ctx, "user:6", "password_hash").Val()
	if !strings.HasPrefix(frank, "pbkdf2:sha512:") {
		t.Errorf("frank's hash was not upgraded: %.20s", frank)
	}
	if ok, _ := password.Verify(frank, f.Passwords["frank"]); !ok {
		t.Error("frank's upgraded hash does not verify")
	}

	// Posting writes exactly what pytwis's post_tweet would write.
	before := snapshot(t, s.rdb)
	t0 := time.Now().Unix()
	browsers["alice"].post("/tweets/user_timeline", form("tweet", "compat <check>\nline 2")).wantRedirect(t, "/tweets/user_timeline")
	t1 := time.Now().Unix()
	after := snapshot(t, s.rdb)
	unix := s.rdb.HGet(ctx, "tweet:261", "unix_time").Val()
	if n, _ := strconv.ParseInt(unix, 10, 64); n < t0 || n > t1 {
		t.Fatalf("tweet:261 unix_time %q not between %d and %d", unix, t0, t1)
	}
	want := clone(before)
	want["next_tweet_id"] = entry("string", "261")
	want["tweet:261"] = entry("hash", map[string]string{"userid": "1", "unix_time": unix, "body": "compat <check>\nline 2"})
	for _, key := range []string{"timeline", "timeline:1", "tweets_by:1", "timeline:2", "timeline:4"} { // alice's followers are 2 and 4
		want[key] = entry("list", append([]string{"261"}, listOf(before[key])...))
	}
	diffSnapshots(t, "post", after, want)

	// Follow writes both sorted sets and nothing else; unfollow removes both.
	before = after
	t0 = time.Now().Unix()
	browsers["alice"].post("/tweets/follow/bob", nil).wantRedirect(t, "/tweets/user_history/bob")
	after = snapshot(t, s.rdb)
	score := s.rdb.ZScore(ctx, "follower:2", "1").Val()
	if int64(score) < t0 || int64(score) > time.Now().Unix() {
		t.Fatalf("follow score %v is not the time of the follow", score)
	}
	want = clone(before)
	want["follower:2"] = entry("zset", []redis.Z{{Score: score, Member: "1"}})
	want["following:1"] = entry("zset", append(slices.Clone(before["following:1"].(snapEntry).Value.([]redis.Z)), redis.Z{Score: score, Member: "2"}))
	// and, in pytwask's own keys, bob's notification of it.
	note := s.rdb.LIndex(ctx, "pytwask:notifications:2", 0).Val()
	if !regexp.MustCompile(`^follow 1 - [0-9]+$`).MatchString(note) {
		t.Errorf("bob's notification of the follow: %q", note)
	}
	notified := map[string]any{"pytwask:notifications:2": entry("list", []string{note}), "pytwask:unread:2": entry("string", "1")}
	maps.Copy(want, notified)
	diffSnapshots(t, "follow", after, want)
	browsers["alice"].post("/tweets/unfollow/bob", nil).wantRedirect(t, "/tweets/user_history/bob")
	// The notification is taken back, and its unread count with it.
	diffSnapshots(t, "unfollow", snapshot(t, s.rdb), before)

	// Signing out rotates the secret in user:<id> and auths, as pytwis logout.
	oldSecret := s.rdb.HGet(ctx, "user:1", "auth").Val()
	browsers["alice"].post("/auth/signout", nil).wantRedirect(t, "/auth/")
	newSecret := s.rdb.HGet(ctx, "user:1", "auth").Val()
	if newSecret == oldSecret || len(newSecret) != 64 || s.rdb.HGet(ctx, "auths", newSecret).Val() != "1" || s.rdb.HExists(ctx, "auths", oldSecret).Val() {
		t.Error("sign-out did not rotate the secret the way pytwis does")
	}
}

// pytwisReads checks that the site shows what pytwis returned from the
// fixture: the general timeline, and each user's timeline, tweets and
// follows, signed in as each. It returns the users' browsers.
func pytwisReads(t *testing.T, s *site, f fixtureFile) map[string]*browser {
	t.Helper()
	anon := s.browser()
	if got := anon.allTweets(t, "/tweets/general_timeline"); !sameTweets(got, f.Expect.GeneralTimeline) {
		t.Errorf("general timeline differs from pytwis's: %d tweets, want %d", len(got), len(f.Expect.GeneralTimeline))
	}

	users := make([]string, 0, len(f.Passwords))
	for u := range f.Passwords {
		users = append(users, u)
	}
	slices.Sort(users)
	browsers := map[string]*browser{}
	for _, u := range users {
		t.Run(u, func(t *testing.T) {
			want := f.Expect.Users[u]
			b := s.browser()
			browsers[u] = b
			b.signIn(u, f.Passwords[u], false)
			if got := b.allTweets(t, "/tweets/user_timeline"); !sameTweets(got, want.Timeline) {
				t.Errorf("timeline differs from pytwis's: got %d tweets, want %d\n got %.300v\nwant %.300v", len(got), len(want.Timeline), got, want.Timeline)
			}
			if got := anon.allTweets(t, "/tweets/user_history/"+u); !sameTweets(got, want.Tweets) {
				t.Errorf("tweets differ from pytwis's: got %d, want %d", len(got), len(want.Tweets))
			}
			settings := b.get("/auth/user_settings")
			settings.want(t, 200, fmt.Sprintf("Following <span class=\"count\">(%d)</span>", len(want.Following)),
				fmt.Sprintf("Followed by <span class=\"count\">(%d)</span>", len(want.Followers)))
			for _, name := range append(slices.Clone(want.Following), want.Followers...) {
				settings.want(t, 200, `<a href="/tweets/user_history/`+name+`">`+name+`</a>`)
			}
			if !strings.Contains(settings.body, fmt.Sprintf(`<strong class="followers-count">%d</strong>`, len(want.Followers))) {
				t.Error("follower count missing from the signed-in page")
			}
		})
	}

	return browsers
}

type snapEntry = struct {
	Type  string
	Value any
}

func entry(typ string, v any) snapEntry { return snapEntry{typ, v} }

func snapshot(t *testing.T, rdb *redis.Client) map[string]any {
	t.Helper()
	s, err := redistest.Snapshot(t.Context(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	// The live events (package live) are pytwask's own stream, which
	// pytwis never reads; TestLive* check what goes into it.
	delete(s, live.Key)
	return s
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func listOf(v any) []string {
	e, _ := v.(snapEntry)
	l, _ := e.Value.([]string)
	return l
}

// sameTweets compares as pytwis lists: nil and empty are the same.
func sameTweets(got, want [][3]any) bool {
	return len(got) == len(want) && (len(got) == 0 || reflect.DeepEqual(got, want))
}

func diffSnapshots(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: key %s missing", what, k)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: key %s = %.200v; want %.200v", what, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: wrote an unexpected key %s", what, k)
		}
	}
}

// TestPytwisDatabaseMovedToCluster moves the pytwis fixture from one Redis
// into a Redis Cluster the way docs/scaling.md says (redis-cli --cluster import),
// and serves it from there: the site shows what pytwis returned, the users
// sign in with their passwords, and a post reaches the followers.
func TestPytwisDatabaseMovedToCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	from, src := cl.StartSource()
	if err := redistest.Load(t.Context(), src, fixture); err != nil {
		t.Fatal(err)
	}
	cl.Import(from)

	rdb := cl.Client()
	t.Cleanup(func() { rdb.Close() })
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	s := &site{t: t, store: st, now: time.Now()}
	s.srv = httptest.NewServer(s.handler(Options{Now: s.clock, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}))
	t.Cleanup(s.srv.Close)
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	browsers := pytwisReads(t, s, f)

	alice := browsers["alice"]
	alice.post("/tweets/user_timeline", form("tweet", "from the cluster")).wantRedirect(t, "/tweets/user_timeline")
	if err := st.DrainFanOut(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	for _, follower := range f.Expect.Users["alice"].Followers {
		browsers[follower].get("/tweets/user_timeline").want(t, 200, "from the cluster")
	}
}

// TestPytwisReadsNewFeatures runs pytwis's own read operations, in Python
// with Debian's python3-redis (testdata/pytwis_reads.py), against a
// database where users replied, mentioned, tagged, liked and were
// notified: they succeed, and list the same tweets as pytwask shows.
func TestPytwisReadsNewFeatures(t *testing.T) {
	s := newSite(t)
	needPytwisReads(t, s)
	names := []string{"alice", "bob", "carol"}
	bs := map[string]*browser{}
	for i, b := range s.signedIn(names...) {
		bs[names[i]] = b
	}
	bs["bob"].post("/tweets/follow/alice", nil)
	bs["carol"].post("/tweets/follow/bob", nil)
	bs["alice"].post("/tweets/user_timeline", form("tweet", "hello @bob #pytwis https://example.com"))
	root := s.rdb.Get(t.Context(), "next_tweet_id").Val()
	bs["bob"].post("/tweets/reply/"+root, form("tweet", "hi @alice, a reply"))
	bs["carol"].post("/tweets/reply/"+root, form("tweet", "and another #pytwis"))
	bs["carol"].post("/tweets/like/"+root, nil)
	bs["bob"].post("/tweets/repost/"+root, nil).want(t, 303) // onto carol's timeline
	bs["alice"].post("/tweets/repost/"+root, nil).want(t, 303)
	bs["alice"].post("/tweets/unrepost/"+root, nil).want(t, 303)
	bs["alice"].get("/notifications").want(t, 200, "replied to your tweet", "bob</a> reposted your tweet")

	out, err := runPytwisReads(s)
	if err != nil {
		t.Fatalf("pytwis's reads failed: %v\n%s", err, out)
	}
	var got struct {
		GeneralTimeline [][3]any `json:"general_timeline"`
		Users           map[string]struct {
			Timeline, Tweets     [][3]any
			Followers, Following []string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, general, err := s.store.Timeline(t.Context(), "", store.General, 0, -1)
	if err != nil || !sameTweets(got.GeneralTimeline, asPytwis(general.Tweets)) || len(general.Tweets) != 3 {
		t.Errorf("the general timeline: pytwis %v, pytwask %v (%v)", got.GeneralTimeline, asPytwis(general.Tweets), err)
	}
	for _, n := range names {
		_, up, err := s.store.UserTweets(t.Context(), "", n, 0, -1)
		if err != nil || !sameTweets(got.Users[n].Tweets, asPytwis(up.Tweets)) {
			t.Errorf("%s's tweets: pytwis %v, pytwask %v (%v)", n, got.Users[n].Tweets, asPytwis(up.Tweets), err)
		}
		secret, err := s.store.Login(t.Context(), "", n, "Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		_, own, err := s.store.Timeline(t.Context(), secret, store.Own, 0, -1)
		if err != nil || !sameTweets(got.Users[n].Timeline, asPytwis(own.Tweets)) {
			t.Errorf("%s's timeline: pytwis %v, pytwask %v (%v)", n, got.Users[n].Timeline, asPytwis(own.Tweets), err)
		}
	}
	// carol follows bob only: alice's tweet is on her timeline by his repost.
	if tw := bs["carol"].get("/tweets/user_timeline").tweets(t); len(tw) == 0 || tw[0].RepostedBy != "bob reposted" || tw[0].Author != "alice" {
		t.Errorf("carol's timeline: %+v", tw)
	}
	if f := got.Users["bob"].Followers; len(f) != 1 || f[0] != "carol" {
		t.Errorf("bob's followers as pytwis reads them: %v", f)
	}
}

// TestPytwisReadsDuringEditsAndDeletions runs pytwis's own reads (as
// TestPytwisReadsNewFeatures) again and again while users delete half of
// their tweets, replied to, liked and reposted, and edit the other half,
// with the fan-out workers taking the deleted off timelines meanwhile:
// every read succeeds. Once the workers are done, no list pytwis reads
// holds a deleted tweet, and each lists what pytwask shows, edits
// included.
func TestPytwisReadsDuringEditsAndDeletions(t *testing.T) {
	s := newSite(t)
	needPytwisReads(t, s)
	ctx := t.Context()
	st := s.store
	names := []string{"ann", "ben", "cat", "dan", "eve", "fay"}
	secrets := map[string]string{}
	for _, n := range names {
		if err := st.Register(ctx, n, "Passw0rd!"); err != nil {
			t.Fatal(err)
		}
		secret, err := st.Login(ctx, "", n, "Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		secrets[n] = secret
	}
	for i, n := range names { // each follows the next two
		for _, m := range []string{names[(i+1)%len(names)], names[(i+2)%len(names)]} {
			v, _ := st.Authenticate(ctx, secrets[n])
			if err := st.Follow(ctx, v.ID, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	type posted struct{ author, id string }
	var all []posted
	for round := range 10 {
		for i, n := range names {
			id, err := st.PostAs(ctx, secrets[n], fmt.Sprintf("tweet %d of %s #round%d", round, n, round%3))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, posted{n, id})
			other := secrets[names[(i+3)%len(names)]]
			if _, err := st.Reply(ctx, other, id, "a reply to "+id); err != nil {
				t.Fatal(err)
			}
			if err := st.Like(ctx, other, id, true); err != nil {
				t.Fatal(err)
			}
			if err := st.Repost(ctx, other, id, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}

	// The reads run one after the other; every few deletions wait for one
	// to end, so that each state between them is read.
	done, read := make(chan struct{}), make(chan error)
	go func() {
		for {
			out, err := runPytwisReads(s)
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, out)
			}
			select {
			case read <- err:
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	reads := 0
	deleted := map[string]bool{}
	for i, p := range all {
		if i%2 == 1 {
			if _, err := st.EditTweet(ctx, secrets[p.author], p.id, "edited: "+p.id, store.DefaultEditWindow); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := st.DeleteTweet(ctx, secrets[p.author], p.id); err != nil {
			t.Fatal(err)
		}
		deleted[p.id] = true
		if i%6 == 0 { // the workers run now and then, behind the deletions
			if err := st.DrainFanOut(ctx, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 0 {
			if err := <-read; err != nil {
				t.Fatalf("pytwis's reads failed during the edits and deletions: %v", err)
			}
			reads++
		}
	}
	// And one account goes, with its tweets and its replies to others.
	if err := st.DeleteUser(ctx, "fay", store.DefaultNameHold); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("pytwis's reads failed during the deletion of an account: %v", err)
	}
	if err := st.DrainFanOut(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	t.Logf("pytwis's reads ran %d times during the edits and deletions", reads+1)

	for _, key := range s.rdb.Keys(ctx, "*").Val() {
		if typ := s.rdb.Type(ctx, key).Val(); typ != "list" || strings.HasPrefix(key, "pytwask:notifications:") {
			continue
		}
		for _, id := range s.rdb.LRange(ctx, key, 0, -1).Val() {
			if deleted[id] {
				t.Errorf("%s still holds deleted tweet %s", key, id)
			}
		}
	}
	out, err := runPytwisReads(s)
	if err != nil {
		t.Fatalf("pytwis's reads failed after the deletions: %v\n%s", err, out)
	}
	var got struct {
		GeneralTimeline [][3]any `json:"general_timeline"`
		Users           map[string]struct{ Timeline, Tweets [][3]any }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, general, err := st.Timeline(ctx, "", store.General, 0, -1)
	// Half the tweets, edited, and every reply are left, but for fay's:
	// her 10 tweets (every other one is hers: all edited) and 10 replies.
	if left := len(all)/2 + len(all) - 20; err != nil || !sameTweets(got.GeneralTimeline, asPytwis(general.Tweets)) || len(general.Tweets) != left {
		t.Errorf("the general timeline: pytwis %d tweets, pytwask %d; want %d (%v)", len(got.GeneralTimeline), len(general.Tweets), left, err)
	}
	edited := 0
	for _, tw := range got.GeneralTimeline {
		if body, _ := tw[2].(string); strings.HasPrefix(body, "edited: ") {
			edited++
		}
	}
	if edited != len(all)/2-10 {
		t.Errorf("pytwis reads %d edited tweets; want %d", edited, len(all)/2-10)
	}
	if _, ok := got.Users["fay"]; ok {
		t.Error("pytwis still lists fay among the users")
	}
	for _, n := range names[:5] {
		_, up, err := st.UserTweets(ctx, "", n, 0, -1)
		if err != nil || !sameTweets(got.Users[n].Tweets, asPytwis(up.Tweets)) {
			t.Errorf("%s's tweets: pytwis %v, pytwask %v (%v)", n, got.Users[n].Tweets, asPytwis(up.Tweets), err)
		}
		_, own, err := st.Timeline(ctx, secrets[n], store.Own, 0, -1)
		if err != nil || !sameTweets(got.Users[n].Timeline, asPytwis(own.Tweets)) {
			t.Errorf("%s's timeline: pytwis %v, pytwask %v (%v)", n, got.Users[n].Timeline, asPytwis(own.Tweets), err)
		}
	}
}

// needPytwisReads skips the test (fails it in CI) where pytwis's reads
// cannot run: without redis-server or python3-redis.
func needPytwisReads(t *testing.T, s *site) {
	t.Helper()
	if s.redis.InProcess() {
		t.Skip("needs redis-server: python3-redis reads it over its unix socket")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import redis").Run(); err != nil {
		if redistest.Strict() {
			t.Fatalf("python3-redis is not installed (required in CI): %v", err)
		}
		t.Skip("python3-redis is not installed (apt-get install python3-redis)")
	}
}

// runPytwisReads runs testdata/pytwis_reads.py on the site's database: its
// JSON, or its error and output.
func runPytwisReads(s *site) ([]byte, error) {
	return exec.Command("/usr/bin/python3", "testdata/pytwis_reads.py", s.redis.Addr, s.redis.Password,
		strconv.Itoa(s.redis.DB)).CombinedOutput()
}

// asPytwis is tweets as pytwis's reads list them: username, unix time
// (a JSON number), body.
func asPytwis(ts []store.Tweet) [][3]any {
	var l [][3]any
	for _, tw := range ts {
		l = append(l, [3]any{tw.Username, float64(tw.Time.Unix()), tw.Body})
	}
	return l
}
