package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"pytwask/app/password"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newShell(t testing.TB) (*Shell, *bytes.Buffer, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	rdb := rs.Client()
	t.Cleanup(func() { rdb.Close() })
	var out bytes.Buffer
	return NewShell(store.New(rdb, password.Hasher{Iterations: 1000}, nil), &out, time.UTC,
		Rules{EditWindow: store.DefaultEditWindow, NameHold: store.DefaultNameHold, BaseURL: "https://pytwask.test"}), &out, rs
}

// TestEveryCommand runs each command's success and failure in one session,
// in order, and checks what it printed and whether it counted as a failure.
func TestEveryCommand(t *testing.T) {
	sh, out, _ := newShell(t)
	ctx := context.Background()
	steps := []struct {
		line   string
		want   string
		failed bool
	}{
		{"", "", false},
		{"   ", "", false},
		{"help", "changepwd OLD_PASSWORD NEW_PASSWORD CONFIRMED_NEW_PASSWORD", false},
		{"frobnicate now", `Unknown command "frobnicate"; type help for the list of commands`, true},
		{"register bob", "Usage: register USERNAME PASSWORD", true},
		{"register bob Passw0rd! extra", "Usage: register USERNAME PASSWORD", true},
		{"register bob Passw0rd!", "Registered bob", false},
		{"register bob Passw0rd!", "Couldn't register bob with error = username bob already exists", true},
		{"register 1bob Passw0rd!", "Couldn't register 1bob with error = Invalid username.", true},
		{"register carol weak", "Couldn't register carol with error = Weak password.", true},
		{"register alice Passw0rd!", "Registered alice", false},
		{"timeline", "Got 0 tweets in the general timeline", false},
		{"post hello", "Couldn't post the tweet with error = Not logged in", true},
		{"logout", "Couldn't log out with error = Not logged in", true},
		{"followers", "Couldn't get the follower list with error = Not logged in", true},
		{"login alice Wrong0rd!", "Couldn't log into username alice with error = Incorrect password", true},
		{"login nobody Passw0rd!", "Couldn't log into username nobody with error = username nobody doesn't exist", true},
		{"login alice Passw0rd!", "Logged into username alice", false},
		{"userprofile", "username: alice\nuserid: 2", false},
		{"post", "Usage: post TWEET", true},
		{"post   hello   world  ", "Posted the tweet", false},
		{"post " + strings.Repeat("x", 281), "Couldn't post the tweet with error = The tweet is 281 characters long; the limit is 280.", true},
		{"follow", "Usage: follow USERNAME", true},
		{"follow nobody", "Couldn't follow the username nobody with error = Followee nobody doesn't exist", true},
		{"follow alice", "Couldn't follow the username alice with error = Can't follow yourself alice", true},
		{"follow bob", "Followed username bob", false},
		{"followings", "Got the list of 1 followings\n====================\n\tbob\n====================", false},
		{"followers", "Got the list of 0 followers", false},
		{"timeline", "Got 1 tweets in the user timeline", false},
		{"timeline 0", "Got 0 tweets in the user timeline", false},
		{"timeline x", "Usage: timeline [MAX_TWEETS]", true},
		{"timeline 1 2", "Usage: timeline [MAX_TWEETS]", true},
		{"tweetsby", "No username is given, so use the currently logged-in user alice\nGot 1 tweets posted by alice", false},
		{"tweetsby alice 0", "Got 0 tweets posted by alice", false},
		{"tweetsby nobody", "Couldn't get the tweets posted by nobody with error = username nobody doesn't exist", true},
		{"tweetsby alice x", "Usage: tweetsby [USERNAME] [MAX_TWEETS]", true},
		{"unfollow bob", "Unfollowed username bob", false},
		{"unfollow nobody", "Couldn't unfollow the username nobody with error = Followee nobody doesn't exist", true},
		{"changepwd Passw0rd! N3w-Passw0rd", "Usage: changepwd", true},
		{"changepwd Passw0rd! N3w-Passw0rd N3w-Passw0rd?", "Couldn't change the password with error = The confirmed new password is different from the new password", true},
		{"changepwd Wrong0rd! N3w-Passw0rd N3w-Passw0rd", "Couldn't change the password with error = Incorrect old password", true},
		{"changepwd Passw0rd! weak weak", "Couldn't change the password with error = Weak password.", true},
		{"changepwd Passw0rd! N3w-Passw0rd N3w-Passw0rd", "Changed the password", false},
		{"userprofile", "username: alice", false},
		{"logout", "Logged out of username alice", false},
		{"userprofile", "Couldn't get the user profile with error = Not logged in", true},
		{"login alice N3w-Passw0rd", "Logged into username alice", false},
		{"\x00\xff\xfe", `Unknown command`, true},
		{"post \xff", "Couldn't post the tweet with error = The tweet is not valid UTF-8 text.", true},
		{"post doomed", "Posted the tweet", false},
		{"delete", "Usage: delete TWEET_ID", true},
		{"delete 999", "Couldn't delete tweet 999 with error = That tweet does not exist.", true},
		{"delete x", "Couldn't delete tweet x with error = That tweet does not exist.", true},
		{"edit 2", "Usage: edit TWEET_ID TWEET", true},
		{"edit 2 \u200b", "Couldn't edit tweet 2 with error = The tweet is empty.", true},
		{"edit 2 doomed,  twice", "Edited tweet 2", false},
		{"tweetsby alice 1", "doomed,  twice", false},
		{"delete 2", "Deleted tweet 2", false},
		{"tweetsby alice", "Got 1 tweets posted by alice", false},
		{"logout", "Logged out of username alice", false},
		{"delete 1", "Couldn't delete tweet 1 with error = Not logged in", true},
		{"login bob Passw0rd!", "Logged into username bob", false},
		{"delete 1", "Couldn't delete tweet 1 with error = You can only change your own tweets.", true},
		{"edit 1 mine", "Couldn't edit tweet 1 with error = You can only change your own tweets.", true},
		{"search", "Usage: search QUERY", true},
		{"search !!!", "Couldn't search with error = Search for a word, a #tag or a name.", true},
		{"search   hello   WORLD ", "Got 0 users\nGot 1 tweets", false},
		{"tag #", "Couldn't get the tweets tagged # with error = There is no such tag.", true},
		{"tag a-b", "Couldn't get the tweets tagged #a-b with error = There is no such tag.", true},
		{"tag #Hello", "Got 0 tweets tagged #hello", false},
		{"search bo", "Got 1 users: bob\nGot 0 tweets", false},
		{"resetlink nobody", "Couldn't make a password reset link for nobody with error = username nobody doesn't exist", true},
		{"resetlink bob", "A password reset link for bob, which works once, for 1 hour:\nhttps://pytwask.test/auth/reset?token=", false},
		{"deleteuser", "Usage: deleteuser USERNAME [confirm]", true},
		{"deleteuser nobody", "Couldn't delete the account of nobody with error = username nobody doesn't exist", true},
		{"deleteuser alice yes", "Usage: deleteuser USERNAME [confirm]", true},
		{"deleteuser alice", "Deleting the account of alice removes: its profile and sessions, 1 tweet, 0 likes, 0 reposts, 0 notifications, its 0 follows and 0 followers. Replies others wrote stay. The name is held for 30 days.\nTo delete it, type: deleteuser alice confirm", false},
		{"tweetsby alice", "Got 1 tweets posted by alice", false},
		{"deleteuser alice confirm", "Deleted the account of alice", false},
		{"tweetsby alice", "Couldn't get the tweets posted by alice with error = username alice doesn't exist", true},
		{"register alice Passw0rd!", "Couldn't register alice with error = That username belonged to an account deleted recently; choose another.", true},
	}
	for _, s := range steps {
		out.Reset()
		sh.failed = false
		if quit := sh.Exec(ctx, s.line); quit {
			t.Fatalf("%q ended the shell", s.line)
		}
		if !strings.Contains(out.String(), s.want) {
			t.Errorf("%q printed %q; want %q", s.line, out.String(), s.want)
		}
		if sh.Failed() != s.failed {
			t.Errorf("%q: failed = %v; want %v", s.line, sh.Failed(), s.failed)
		}
	}
	for _, q := range []string{"exit", "quit", "  quit  "} {
		if !sh.Exec(ctx, q) {
			t.Errorf("%q did not end the shell", q)
		}
	}
}

// TestRedisFull: with Redis full, reads work, and a write says why it
// failed.
func TestRedisFull(t *testing.T) {
	sh, out, rs := newShell(t)
	if rs.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in has no maxmemory")
	}
	ctx := context.Background()
	for _, line := range []string{"register alice Passw0rd!", "login alice Passw0rd!", "post hello"} {
		sh.Exec(ctx, line)
	}
	rdb := rs.Client()
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ line, want string }{
		{"timeline", "Got 1 tweets in the user timeline"},
		{"tweetsby alice", "Got 1 tweets posted by alice"},
		{"post again", "Couldn't post the tweet with error = Redis refuses writes: it is full, cannot save to disk, or is a replica (post tweet: OOM "},
	} {
		out.Reset()
		sh.Exec(ctx, s.line)
		if !strings.Contains(out.String(), s.want) {
			t.Errorf("%q printed %q; want %q", s.line, out.String(), s.want)
		}
	}
}

// TestRedisRefusingThePassword: a password changed in Redis under a running
// shell is named as the cause of each failure.
func TestRedisRefusingThePassword(t *testing.T) {
	sh, out, rs := newShell(t)
	if rs.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in's password is set at its start")
	}
	ctx := context.Background()
	sh.Exec(ctx, "register alice Passw0rd!")
	rdb := rs.Client()
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "requirepass", "rotated").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"login alice Passw0rd!", "timeline"} {
		out.Reset()
		sh.Exec(ctx, line)
		if want := "with error = Redis refuses pytwask's password or user: check REDIS_DB_PASSWORD ("; !strings.Contains(out.String(), want) {
			t.Errorf("%q printed %q; want %q", line, out.String(), want)
		}
	}
}

// TestResetLinkWithoutBaseURL: a site with no address configured gets the
// link's path, and the operator is told what goes before it.
func TestResetLinkWithoutBaseURL(t *testing.T) {
	sh, out, _ := newShell(t)
	sh.rules.BaseURL = ""
	ctx := context.Background()
	sh.Exec(ctx, "register bob Passw0rd!")
	out.Reset()
	sh.Exec(ctx, "resetlink bob")
	want := "A password reset link for bob, which works once, for 1 hour, to follow the site's address (set PYTWASK_BASE_URL to print it whole):\n/auth/reset?token="
	if !strings.HasPrefix(out.String(), want) || sh.Failed() {
		t.Errorf("resetlink printed %q; want %q and a token", out.String(), want)
	}
}

// TestDeleteUserFinishesCutShort: an account whose deletion stopped after
// its first step (marked deleted, out of users and without sessions, as
// when Redis goes away then) is listed as such, and deleteuser finishes it.
func TestDeleteUserFinishesCutShort(t *testing.T) {
	sh, out, rs := newShell(t)
	ctx := context.Background()
	rdb := rs.Client()
	defer rdb.Close()
	for _, line := range []string{"register bob Passw0rd!", "register dora Passw0rd!", "login dora Passw0rd!", "follow bob", "post one", "logout"} {
		if sh.Exec(ctx, line); sh.Failed() {
			t.Fatalf("%q: %s", line, out)
		}
	}
	id := rdb.HGet(ctx, "users", "dora").Val()
	secret := rdb.HGet(ctx, "user:"+id, "auth").Val()
	rdb.HSet(ctx, "user:"+id, "pytwask_deleted", time.Now().Unix())
	rdb.HDel(ctx, "auths", secret)
	rdb.HDel(ctx, "users", "dora")
	rdb.HDel(ctx, "user:"+id, "auth", "password_hash")

	for _, s := range []struct{ line, want string }{
		{"deleteuser dora", "The deletion of the account of dora was cut short. Finishing it removes: its profile and sessions, 1 tweet, 0 likes, 0 reposts, 0 notifications, its 1 follow and 0 followers. Replies others wrote stay. The name is held for 30 days.\nTo finish deleting it, type: deleteuser dora confirm"},
		{"deleteuser dora confirm", "Deleted the account of dora"},
		{"deleteuser dora", "Couldn't delete the account of dora with error = username dora doesn't exist"},
	} {
		out.Reset()
		sh.Exec(ctx, s.line)
		if !strings.Contains(out.String(), s.want) {
			t.Errorf("%q printed %q; want %q", s.line, out.String(), s.want)
		}
	}
	if n := rdb.Exists(ctx, "tweets_by:"+id, "following:"+id).Val(); n != 0 {
		t.Errorf("%d of dora's lists are left", n)
	}
	if f := rdb.ZRange(ctx, "follower:"+rdb.HGet(ctx, "users", "bob").Val(), 0, -1).Val(); len(f) != 0 {
		t.Errorf("bob's followers after dora's deletion: %v", f)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		line string
		name string
		args []string
	}{
		{"", "", nil},
		{"login  alice   pw", "login", []string{"alice", "pw"}},
		{"post  hello   there  ", "post", []string{"hello   there"}},
		{"post", "post", nil},
		{"\tfollow\tbob", "follow", []string{"bob"}},
		{"timeline\t5", "timeline", []string{"5"}},
	}
	for _, c := range cases {
		name, args, err := Parse(c.line)
		if err != nil || name != c.name || strings.Join(args, "|") != strings.Join(c.args, "|") {
			t.Errorf("Parse(%q) = %q %q %v; want %q %q", c.line, name, args, err, c.name, c.args)
		}
	}
}

// setRedisEnv points the configuration at the test server, as an operator's
// environment would.
func setRedisEnv(t *testing.T, rs *redistest.Server) {
	t.Helper()
	t.Setenv("PYTWASK_ENV", "prod")
	t.Setenv("PYTWASK_HASH_ITERATIONS", "10000")
	for _, kv := range rs.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

var timeLine = regexp.MustCompile(`(?m)^Time: .*$`)

// TestTranscript runs a scripted session through standard input, as an
// operator's script would, and compares the output with a golden file.
func TestTranscript(t *testing.T) {
	rs := redistest.Start(t)
	setRedisEnv(t, rs)
	in, err := os.Open("testdata/transcript.in")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out, errb bytes.Buffer
	code := Clt(context.Background(), []string{"--prompt"}, in, &out, &errb)
	got := timeLine.ReplaceAllString(out.String(), "Time: <time>")
	got = strings.ReplaceAll(got, rs.Addr+"> ", "<redis>> ")
	if *update {
		os.WriteFile("testdata/transcript.golden", []byte(got), 0o644)
	}
	want, err := os.ReadFile("testdata/transcript.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from testdata/transcript.golden (go test -run Transcript -update to accept):\n%s", got)
	}
	if code != 1 {
		t.Errorf("exit %d; want 1 (the script has failing commands)", code)
	}
	// Nothing secret reaches the terminal.
	rdb := rs.Client()
	defer rdb.Close()
	for _, key := range []string{"user:1", "user:2"} {
		for _, f := range []string{"password_hash", "auth"} {
			if v := rdb.HGet(context.Background(), key, f).Val(); v == "" || strings.Contains(out.String()+errb.String(), v) {
				t.Errorf("%s %s is empty or was printed", key, f)
			}
		}
	}
	if strings.Contains(out.String()+errb.String(), rs.Password) {
		t.Error("the Redis password was printed")
	}
}

func TestScriptExitStatus(t *testing.T) {
	rs := redistest.Start(t)
	setRedisEnv(t, rs)
	run := func(script string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Clt(context.Background(), args, strings.NewReader(script), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run("register alice Passw0rd!\nlogin alice Passw0rd!\npost hello\n"); code != 0 || strings.Contains(out, "> ") {
		t.Errorf("a clean script: exit %d, output %q (no prompt expected)", code, out)
	}
	if code, _ := run("login alice Passw0rd!\npost hello\nfollow nobody\npost again\n"); code != 1 {
		t.Errorf("a script with a failing command: exit %d; want 1", code)
	}
	if code, out := run("", "--help"); code != 0 || !strings.Contains(out, "-s socket") {
		t.Errorf("--help: exit %d %q", code, out)
	}
	if code, _ := run("", "-x"); code != 2 {
		t.Errorf("bad flag: exit %d; want 2", code)
	}
	// Flags override the environment; a wrong password is refused at once
	// and not shown.
	code, out := run("timeline\n", "-a", "wrong-password-123")
	if code != 1 || !strings.Contains(out, "cannot use Redis") || strings.Contains(out, "wrong-password-123") {
		t.Errorf("wrong password: exit %d %q", code, out)
	}
	code, out = run("timeline\n", "-s", "/nonexistent/redis.sock", "-h", "127.0.0.1")
	if code != 1 || !strings.Contains(out, "cannot use Redis at /nonexistent/redis.sock") {
		t.Errorf("unreachable: exit %d %q", code, out)
	}
}
