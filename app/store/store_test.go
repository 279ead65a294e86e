package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
	"pytwask/app/redistest"
)

// testHasher keeps hashing cheap so tests measure behaviour, not PBKDF2.
var testHasher = password.Hasher{Iterations: 1000}

func newStore(t *testing.T) (*Store, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	return s, rdb
}

// followAlice makes each of users follow alice.
func followAlice(t *testing.T, s *Store, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := s.Follow(context.Background(), u, "alice"); err != nil {
			t.Fatal(err)
		}
	}
}

// mustPost posts body as the user with this id and returns the tweet's id.
func mustPost(t *testing.T, s *Store, userID, body string) string {
	t.Helper()
	id, err := s.Post(context.Background(), userID, body)
	if err != nil {
		t.Fatalf("post %q as user %s: %v", body, userID, err)
	}
	return id
}

func mustRegister(t *testing.T, s *Store, name string) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	if err := s.Register(ctx, name, "Passw0rd!"); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	secret, err := s.Login(ctx, "", name, "Passw0rd!")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	return v.ID, secret
}

// mustUnread returns the unread count of the user whose secret it is.
func mustUnread(t *testing.T, s *Store, secret string) int64 {
	t.Helper()
	v, err := s.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return v.Unread
}

func wantRefusal(t *testing.T, err error, kind Kind, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || !strings.HasPrefix(e.Msg, msg) {
		t.Fatalf("error = %v; want a refusal of kind %d starting %q", err, kind, msg)
	}
}

func TestRegisterWritesPytwisLayout(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	if err := s.Register(ctx, "alice", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, "next_user_id").Val(); got != "1" {
		t.Errorf("next_user_id = %q; want 1", got)
	}
	if got := rdb.HGet(ctx, "users", "alice").Val(); got != "1" {
		t.Errorf("users[alice] = %q; want 1", got)
	}
	prof := rdb.HGetAll(ctx, "user:1").Val()
	if len(prof) != 3 || prof["username"] != "alice" || len(prof["auth"]) != 64 {
		t.Fatalf("user:1 = %v; want username, password_hash and a 64-hex auth", prof)
	}
	if ok, err := password.Verify(prof["password_hash"], "Passw0rd!"); !ok || err != nil {
		t.Errorf("stored hash does not verify: %v", err)
	}
	if got := rdb.HGet(ctx, "auths", prof["auth"]).Val(); got != "1" {
		t.Errorf("auths[secret] = %q; want 1", got)
	}
}

func TestRegisterRefusals(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	mustRegister(t, s, "alice")
	before := rdb.DBSize(ctx).Val()
	cases := []struct {
		name, user, pw string
		kind           Kind
		msg            string
	}{
		{"taken", "alice", "Passw0rd!", Conflict, "username alice already exists"},
		{"bad name", "1alice", "Passw0rd!", Invalid, "Invalid username."},
		{"short name", "al", "Passw0rd!", Invalid, "Invalid username."},
		{"weak password", "bob", "password", Invalid, "Weak password."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRefusal(t, s.Register(ctx, c.user, c.pw), c.kind, c.msg)
		})
	}
	if after := rdb.DBSize(ctx).Val(); after != before {
		t.Errorf("refused registrations changed the key count from %d to %d", before, after)
	}
}

func TestLoginLogoutAndSecretRotation(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	id, secret := mustRegister(t, s, "alice")

	_, err := s.Login(ctx, "", "alice", "Wrong0rd!")
	wantRefusal(t, err, Unauthorized, "Incorrect password")
	_, err = s.Login(ctx, "", "nobody", "Passw0rd!")
	wantRefusal(t, err, NotFound, "username nobody doesn't exist")

	// One secret per user: a second sign-in shares it.
	again, err := s.Login(ctx, "", "alice", "Passw0rd!")
	if err != nil || again != secret {
		t.Fatalf("second login = %q, %v; want the same secret", again, err)
	}
	if err := s.Logout(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("old secret after logout: %v; want ErrNotLoggedIn", err)
	}
	if rdb.HExists(ctx, "auths", secret).Val() {
		t.Error("old secret still in auths")
	}
	newSecret := rdb.HGet(ctx, "user:"+id, "auth").Val()
	if newSecret == secret || rdb.HGet(ctx, "auths", newSecret).Val() != id {
		t.Error("logout did not store a new secret in user:<id> and auths")
	}
	if err := s.Logout(ctx, secret); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("second logout: %v; want ErrNotLoggedIn", err)
	}

	// An account whose deletion took its secret while the password was
	// being checked: no such user, as it is a moment later.
	rdb.HDel(ctx, "user:"+id, "auth")
	_, err = s.Login(ctx, "", "alice", "Passw0rd!")
	wantRefusal(t, err, NotFound, "username alice doesn't exist")
}

func TestChangePassword(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	id, secret := mustRegister(t, s, "alice")

	cases := []struct {
		name, old, new string
		want           error
	}{
		{"wrong old", "Wrong0rd!", "N3w-Passw0rd", ErrIncorrectOld},
		{"same", "Passw0rd!", "Passw0rd!", ErrSamePassword},
	}
	for _, c := range cases {
		if _, err := s.ChangePassword(ctx, "", secret, c.old, c.new); !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}
	_, err := s.ChangePassword(ctx, "", secret, "Passw0rd!", "weak")
	wantRefusal(t, err, Invalid, "Weak password.")
	hashBefore := rdb.HGet(ctx, "user:"+id, "password_hash").Val()
	if rdb.HGet(ctx, "user:"+id, "auth").Val() != secret {
		t.Fatal("a refused change rotated the secret")
	}

	newSecret, err := s.ChangePassword(ctx, "", secret, "Passw0rd!", "N3w-Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == secret {
		t.Fatal("secret not rotated")
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrNotLoggedIn) {
		t.Error("old secret still signs in")
	}
	if rdb.HGet(ctx, "user:"+id, "password_hash").Val() == hashBefore {
		t.Error("hash unchanged")
	}
	if _, err := s.Login(ctx, "", "alice", "N3w-Passw0rd"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := s.ChangePassword(ctx, "", secret, "N3w-Passw0rd", "An0ther-pass"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("change with a stale secret: %v; want ErrNotLoggedIn", err)
	}
}

// TestLoginRehashesWeakHash: hashes that Werkzeug wrote (as pytwis stored
// them, and old Werkzeug's other forms) sign in and are upgraded to the
// current policy at that sign-in, then left alone.
func TestLoginRehashesWeakHash(t *testing.T) {
	raw, err := os.ReadFile("../password/testdata/werkzeug-old-hashes.json")
	if err != nil {
		t.Fatal(err)
	}
	var old struct {
		Vectors []struct{ Password, Hash string }
	}
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	// A hash as Werkzeug 0.14 wrote it for pytwis (the shared fixture's).
	vectors := append(old.Vectors, struct{ Password, Hash string }{"S3cret#pass", "pbkdf2:sha512:50000$Ptlk0hiX$c58b1ac73d3c658a84283dd7b114a5ccf5001c696bc02cd9b476e6615dd52b1b4da6249473fdb7aae6da8725255c57af3bb41d54e0d67cc76625a0a9467df027"})
	_, rdb := newStore(t)
	strong := New(rdb, password.Hasher{Iterations: 200_000}, nil)
	for i, v := range vectors {
		method, _, _ := strings.Cut(v.Hash, "$")
		t.Run(method, func(t *testing.T) {
			ctx := context.Background()
			id, name := strconv.Itoa(100+i), "user"+strconv.Itoa(i)
			rdb.HSet(ctx, "users", name, id)
			rdb.HSet(ctx, "user:"+id, "username", name, "password_hash", v.Hash, "auth", "s"+id)
			rdb.HSet(ctx, "auths", "s"+id, id)

			if _, err := strong.Login(ctx, "", name, v.Password); err != nil {
				t.Fatal(err)
			}
			got := rdb.HGet(ctx, "user:"+id, "password_hash").Val()
			if !strings.HasPrefix(got, "pbkdf2:sha512:200000$") {
				t.Fatalf("hash after sign-in is %.22s...; want pbkdf2:sha512:200000", got)
			}
			if ok, _ := password.Verify(got, v.Password); !ok {
				t.Fatal("upgraded hash does not verify")
			}
			// A hash at the policy is left alone.
			if _, err := strong.Login(ctx, "", name, v.Password); err != nil {
				t.Fatal(err)
			}
			if again := rdb.HGet(ctx, "user:"+id, "password_hash").Val(); again != got {
				t.Error("a hash at policy strength was rewritten")
			}
		})
	}
}

// TestRefusalTimeIndependentOfHash: a wrong password for a user with a
// cheap old hash takes as long as one for a user with a hash at the policy,
// and as an unknown name; a right one is not padded.
func TestRefusalTimeIndependentOfHash(t *testing.T) {
	_, rdb := newStore(t)
	ctx := context.Background()
	policy := password.Hasher{Iterations: 100_000}
	s := New(rdb, policy, nil)
	for name, hasher := range map[string]password.Hasher{"cheap": {Iterations: 1000}, "strong": policy} {
		h, err := hasher.Hash("Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		id := map[string]string{"cheap": "41", "strong": "42"}[name]
		rdb.HSet(ctx, "users", name, id)
		rdb.HSet(ctx, "user:"+id, "username", name, "password_hash", h, "auth", "s"+id)
		rdb.HSet(ctx, "auths", "s"+id, id)
	}
	// In turns, so that the machine's drift from one moment to the next
	// falls on all three alike.
	took := map[string][]time.Duration{}
	for range 9 {
		for _, name := range []string{"cheap", "strong", "nobody"} {
			start := time.Now()
			if _, err := s.Login(ctx, "", name, "Wr0ng-pass"); err == nil {
				t.Fatal("a wrong password signed in")
			}
			took[name] = append(took[name], time.Since(start))
		}
	}
	// The least of each: what else runs on the machine (other tests'
	// workers in this process among it) only ever adds time, and a
	// median of nine still moved by half under load.
	least := func(name string) time.Duration { return slices.Min(took[name]) }
	cheap, strong, unknown := least("cheap"), least("strong"), least("nobody")
	t.Logf("refusal times, the least of 9: cheap hash %v, hash at policy %v, unknown name %v", cheap, strong, unknown)
	for name, d := range map[string]time.Duration{"cheap hash": cheap, "unknown name": unknown} {
		if r := float64(d) / float64(strong); r < 0.7 || r > 1.4 {
			t.Errorf("a refusal for a %s takes %.2f times one for a hash at policy; want about the same", name, r)
		}
	}
}

// TestLoginUnreadableHash: a stored hash of a kind nobody can verify refuses
// the sign-in as a wrong password would, leaves the hash alone, and warns the
// operator with the user's id, never the hash.
func TestLoginUnreadableHash(t *testing.T) {
	_, rdb := newStore(t)
	var logs strings.Builder
	s := New(rdb, testHasher, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	const unreadable = "argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	rdb.HSet(ctx, "users", "carol", "9")
	rdb.HSet(ctx, "user:9", "username", "carol", "password_hash", unreadable, "auth", "s9")
	rdb.HSet(ctx, "auths", "s9", "9")

	if _, err := s.Login(ctx, "", "carol", "S3cret#pass"); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("Login = %v, want ErrIncorrectPassword", err)
	}
	if got := rdb.HGet(ctx, "user:9", "password_hash").Val(); got != unreadable {
		t.Errorf("the hash became %.20s...", got)
	}
	log := logs.String()
	if !strings.Contains(log, `level=WARN msg="stored password hash cannot be verified" user_id=9`) {
		t.Errorf("no warning naming the user:\n%s", log)
	}
	if strings.Contains(log, "c2FsdHNhbHQ") || strings.Contains(log, "aGFzaGhhc2hoYXNo") || strings.Contains(log, "S3cret") {
		t.Errorf("the log shows the hash or the password:\n%s", log)
	}
}

// forEachFanOut runs test twice: with posts fanned out by the post script,
// and with every post fanned out by a fan-out job (which settle runs).
func forEachFanOut(t *testing.T, test func(t *testing.T, s *Store, rdb *redis.Client)) {
	for _, p := range []struct {
		name   string
		inline int
	}{{"script", InlineFanOut}, {"job", -1}} {
		t.Run(p.name, func(t *testing.T) {
			s, rdb := newStore(t)
			s.inlineFanOut = p.inline
			test(t, s, rdb)
		})
	}
}

// onBoth runs test on one server and on a Redis Cluster.
func onBoth(t *testing.T, test func(t *testing.T, s *Store, rdb redis.UniversalClient)) {
	onBothThen(t, false, test)
}

// onBothAtOnce is onBoth with the two runs at once, for the long tests
// (they wait on Redis far more than they compute), so that the store's
// package stays well within go test's ten minutes on a slow machine. test
// must keep its state within itself.
func onBothAtOnce(t *testing.T, test func(t *testing.T, s *Store, rdb redis.UniversalClient)) {
	onBothThen(t, true, test)
}

func onBothThen(t *testing.T, atOnce bool, test func(t *testing.T, s *Store, rdb redis.UniversalClient)) {
	t.Run("one server", func(t *testing.T) {
		if atOnce {
			t.Parallel()
		}
		s, rdb := newStore(t)
		test(t, s, rdb)
	})
	t.Run("cluster", func(t *testing.T) {
		if atOnce {
			t.Parallel()
		}
		s, rdb, _ := clusterStore(t)
		test(t, s, rdb)
	})
}

// settle runs the fan-out jobs of the posts so far, as the workers would.
func settle(t *testing.T, s *Store) {
	t.Helper()
	if err := s.DrainFanOut(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
}

func TestPostFanOutAndTimelines(t *testing.T) {
	forEachFanOut(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		t0 := time.Unix(1_700_000_000, 0)
		s.now = func() time.Time { return t0 }
		alice, _ := mustRegister(t, s, "alice")
		bob, bobSecret := mustRegister(t, s, "bob")
		carol, carolSecret := mustRegister(t, s, "carol")
		followAlice(t, s, bob)
		id := mustPost(t, s, alice, "hello\r\nworld")
		settle(t, s)
		tw := rdb.HGetAll(ctx, "tweet:"+id).Val()
		want := map[string]string{"userid": alice, "unix_time": "1700000000", "body": "hello\nworld"}
		if fmt.Sprint(tw) != fmt.Sprint(want) {
			t.Errorf("tweet:%s = %v; want %v", id, tw, want)
		}
		for _, key := range []string{"timeline", "timeline:" + alice, "timeline:" + bob, "tweets_by:" + alice} {
			if got := rdb.LRange(ctx, key, 0, -1).Val(); len(got) != 1 || got[0] != id {
				t.Errorf("%s = %v; want [%s]", key, got, id)
			}
		}
		if n := rdb.Exists(ctx, "timeline:"+carol).Val(); n != 0 {
			t.Error("a non-follower's timeline got the tweet")
		}
		v, page, err := s.Timeline(ctx, bobSecret, Own, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil || v.Username != "bob" || v.Following != 1 {
			t.Errorf("viewer = %+v", v)
		}
		if len(page.Tweets) != 1 || page.Tweets[0].Username != "alice" || page.Tweets[0].Body != "hello\nworld" || !page.Tweets[0].Time.Equal(t0) || page.More {
			t.Errorf("bob's timeline = %+v", page)
		}
		_, up, err := s.UserTweets(ctx, bobSecret, "alice", 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if !up.ViewerFollows || up.Followers != 1 || up.Following != 0 || len(up.Tweets) != 1 {
			t.Errorf("alice's page for bob = %+v", up)
		}
		if _, up, _ := s.UserTweets(ctx, carolSecret, "alice", 0, 50); up.ViewerFollows {
			t.Error("carol is shown as following alice")
		}
		_, _, err = s.UserTweets(ctx, "", "nobody", 0, 50)
		wantRefusal(t, err, NotFound, "username nobody doesn't exist")
		if _, _, err := s.Timeline(ctx, "stale", Own, 0, 50); !errors.Is(err, ErrNotLoggedIn) {
			t.Errorf("own timeline with a stale secret: %v", err)
		}
		if v, p, err := s.Timeline(ctx, "stale", General, 0, 50); err != nil || v != nil || len(p.Tweets) != 1 {
			t.Errorf("general timeline with a stale secret: %v %+v %v", v, p, err)
		}
		_ = carol
	})
}

// TestCaseTwinNames: a sign-up is refused when a name differing only in
// case exists, including names pytwis registered without pytwask's folded
// index; twins already in pytwis's data both keep signing in.
func TestCaseTwinNames(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	// pytwis's own data: a pair of case twins, and a user added after.
	for id, name := range map[string]string{"1": "alice", "2": "ALICE", "3": "jone_1"} {
		h, _ := password.Hasher{Iterations: 1000}.Hash("Passw0rd!")
		rdb.HSet(ctx, "users", name, id)
		rdb.HSet(ctx, "user:"+id, "username", name, "password_hash", h, "auth", "s"+id)
		rdb.HSet(ctx, "auths", "s"+id, id)
	}
	rdb.Set(ctx, "next_user_id", 3, 0)
	for _, name := range []string{"JONE_1", "Jone_1", "Alice", "aLiCe"} {
		if err := s.Register(ctx, name, "Passw0rd!"); !isConflict(err) || !strings.Contains(err.Error(), "differ only in case") {
			t.Errorf("Register(%q) = %v; want a refusal naming the case", name, err)
		}
	}
	if err := s.Register(ctx, "alice", "Passw0rd!"); err == nil || !strings.Contains(err.Error(), "username alice already exists") {
		t.Errorf("Register(alice) = %v; want pytwis's message", err)
	}
	for _, name := range []string{"alice", "ALICE"} {
		if _, err := s.Login(ctx, "", name, "Passw0rd!"); err != nil {
			t.Errorf("the existing twin %s cannot sign in: %v", name, err)
		}
	}
	// pytwis registers one more after pytwask indexed the names.
	rdb.HSet(ctx, "users", "Bob", "4")
	rdb.HSet(ctx, "user:4", "username", "Bob")
	if err := s.Register(ctx, "bob", "Passw0rd!"); !isConflict(err) {
		t.Errorf("Register(bob) after pytwis added Bob = %v; want refused", err)
	}
	if err := s.Register(ctx, "carol", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, "CAROL", "Passw0rd!"); !isConflict(err) {
		t.Errorf("Register(CAROL) = %v; want refused", err)
	}
	if n := rdb.HLen(ctx, "users").Val(); n != 5 {
		t.Errorf("users holds %d names; want 5", n)
	}
}

func isConflict(err error) bool {
	var refusal *Error
	return errors.As(err, &refusal) && refusal.Kind == Conflict
}

func TestPostRefusalsWriteNothing(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	before := rdb.DBSize(ctx).Val()
	for name, body := range map[string]string{
		"empty":       "",
		"blank":       " \n\t ",
		"too long":    strings.Repeat("é", MaxTweetLen+1),
		"nul":         "a\x00b",
		"control":     "bell\a",
		"invalid utf": "\xff\xfe",
		// Nothing that shows.
		"zero-width spaces":     "\u200b\u200b",
		"braille blank":         "\u2800",
		"hangul fillers":        "\u3164\u115f\u1160\uffa0",
		"bidi overrides":        "\u202e\u202d\u2066\u2069",
		"bom and joiners":       "\ufeff\u200d\u200c\u2060",
		"variation selectors":   "\ufe0f\ufe0e",
		"tag characters":        "\U000E0041\U000E007F",
		"mixed with whitespace": " \u200b\n\u3000\u2800\u202e ",
	} {
		if _, err := s.Post(ctx, alice, body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if after := rdb.DBSize(ctx).Val(); after != before {
		t.Errorf("refused posts changed the key count from %d to %d", before, after)
	}
	for _, body := range []string{"\u202eevil", "a\u200bb", "\u2800x", "👍\ufe0f"} {
		if _, err := s.Post(ctx, alice, body); err != nil {
			t.Errorf("%q, which shows something, was refused: %v", body, err)
		}
	}
	if _, err := s.Post(ctx, alice, strings.Repeat("日", MaxTweetLen)); err != nil {
		t.Errorf("a tweet of exactly %d code points was refused: %v", MaxTweetLen, err)
	}
}

func TestPaging(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	for i := 1; i <= 7; i++ {
		if _, err := s.Post(ctx, alice, fmt.Sprintf("tweet %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		offset, n int
		first     string
		count     int
		more      bool
	}{
		{0, 3, "tweet 7", 3, true},
		{3, 3, "tweet 4", 3, true},
		{6, 3, "tweet 1", 1, false},
		{9, 3, "", 0, false},
		{0, -1, "tweet 7", 7, false},
	}
	for _, c := range cases {
		_, p, err := s.Timeline(ctx, "", General, c.offset, c.n)
		if err != nil {
			t.Fatal(err)
		}
		first := ""
		if len(p.Tweets) > 0 {
			first = p.Tweets[0].Body
		}
		if first != c.first || len(p.Tweets) != c.count || p.More != c.more {
			t.Errorf("offset %d n %d: first %q count %d more %v; want %q %d %v",
				c.offset, c.n, first, len(p.Tweets), p.More, c.first, c.count, c.more)
		}
	}
}

func TestFollowRules(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	bob, _ := mustRegister(t, s, "bob")
	wantRefusal(t, s.Follow(ctx, alice, "nobody"), NotFound, "Followee nobody doesn't exist")
	wantRefusal(t, s.Follow(ctx, alice, "alice"), Invalid, "Can't follow yourself alice")
	if err := s.Follow(ctx, alice, "bob"); err != nil {
		t.Fatal(err)
	}
	if rdb.ZScore(ctx, "follower:"+bob, alice).Err() != nil || rdb.ZScore(ctx, "following:"+alice, bob).Err() != nil {
		t.Fatal("follow did not write both sorted sets")
	}
	if got, _ := s.Following(ctx, alice); fmt.Sprint(got) != "[bob]" {
		t.Errorf("Following = %v", got)
	}
	if got, _ := s.Followers(ctx, bob); fmt.Sprint(got) != "[alice]" {
		t.Errorf("Followers = %v", got)
	}
	if err := s.Unfollow(ctx, alice, "bob"); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, "follower:"+bob, "following:"+alice).Val() != 0 {
		t.Fatal("unfollow left a member behind")
	}
}

// TestConcurrentRegistrationOfOneName: of 50 simultaneous sign-ups of one
// name, exactly one succeeds and exactly one user exists afterwards.
func TestConcurrentRegistrationOfOneName(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Register(ctx, "alice", "Passw0rd!")
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else {
			wantRefusal(t, err, Conflict, "username alice already exists")
		}
	}
	if ok != 1 {
		t.Fatalf("%d registrations succeeded; want 1", ok)
	}
	if n := rdb.HLen(ctx, "users").Val(); n != 1 {
		t.Errorf("users has %d entries; want 1", n)
	}
	if n := rdb.HLen(ctx, "auths").Val(); n != 1 {
		t.Errorf("auths has %d entries; want 1", n)
	}
	if keys := rdb.Keys(ctx, "user:*").Val(); len(keys) != 1 {
		t.Errorf("profiles: %v; want one", keys)
	}
}

// TestConcurrentPosts: 100 simultaneous posts by a user with followers leave
// each tweet exactly once in every follower's timeline.
func TestConcurrentPosts(t *testing.T) {
	forEachFanOut(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		author, _ := mustRegister(t, s, "author")
		var followers []string
		for i := range 5 {
			id, _ := mustRegister(t, s, fmt.Sprintf("fan%d", i))
			if err := s.Follow(ctx, id, "author"); err != nil {
				t.Fatal(err)
			}
			followers = append(followers, id)
		}
		var wg sync.WaitGroup
		ids := make(chan string, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := s.Post(ctx, author, fmt.Sprintf("post %d", i))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}()
		}
		wg.Wait()
		close(ids)
		settle(t, s)
		posted := map[string]bool{}
		for id := range ids {
			posted[id] = true
		}
		if len(posted) != 100 {
			t.Fatalf("%d distinct tweet ids; want 100", len(posted))
		}
		for _, f := range append(followers, author) {
			seen := map[string]int{}
			for _, id := range rdb.LRange(ctx, "timeline:"+f, 0, -1).Val() {
				seen[id]++
			}
			for id := range posted {
				if seen[id] != 1 {
					t.Errorf("timeline:%s holds tweet %s %d times; want once", f, id, seen[id])
				}
			}
			if len(seen) != 100 {
				t.Errorf("timeline:%s holds %d tweets; want 100", f, len(seen))
			}
		}
	})
}

// A post whose reply outlasts the read timeout (Redis slow, or pytwask
// starved of CPU) is never sent again: Redis ran the first, so a second would
// post the tweet twice. The client sees an error (a 503), and the tweet is
// in once.
func TestSlowPostIsNotRepeated(t *testing.T) {
	srv := redistest.Start(t)
	opt := srv.Options()
	opt.ReadTimeout = 200 * time.Millisecond
	var slow atomic.Bool
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return slowReplies(ctx, network, addr, &slow, 2*opt.ReadTimeout)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	if _, err := s.Post(ctx, alice, "the first"); err != nil { // loads the post script
		t.Fatal(err)
	}

	slow.Store(true)
	_, err := s.Post(ctx, alice, "only once")
	if !IsUnavailable(err) {
		t.Errorf("a post whose reply came too late: %v; want an unavailable error", err)
	}
	time.Sleep(4 * opt.ReadTimeout) // any retry's reply
	if got := rdb.LRange(ctx, tweetsByKey(alice), 0, -1).Val(); len(got) != 2 {
		t.Errorf("alice's tweets after two posts, one timed out: %q; want two", got)
	}
}

// slowReplies dials Redis through a pipe that hands Redis the commands at
// once but, when slow is set, holds the next reply back for delay, and clears
// slow.
func slowReplies(ctx context.Context, network, addr string, slow *atomic.Bool, delay time.Duration) (net.Conn, error) {
	var d net.Dialer
	up, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	client, proxy := net.Pipe()
	go func() {
		io.Copy(up, proxy)
		up.Close()
	}()
	go func() {
		defer proxy.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 && slow.CompareAndSwap(true, false) {
				time.Sleep(delay)
			}
			if _, werr := proxy.Write(buf[:n]); werr != nil || err != nil {
				return
			}
		}
	}()
	return client, nil
}

// PostAs posts as the user whose current secret it is, checked in the post
// script itself. A secret signed out posts nothing, and never as someone
// else.
func TestPostAs(t *testing.T) {
	forEachFanOut(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		alice, secret := mustRegister(t, s, "alice")
		bob, bobSecret := mustRegister(t, s, "bob")
		followAlice(t, s, bob)
		postAs := func(secret string) (string, error) {
			t.Helper()
			id, err := s.PostAs(ctx, secret, "hello")
			if err == nil {
				settle(t, s)
				if author := rdb.HGet(ctx, "tweet:"+id, "userid").Val(); author != alice {
					t.Errorf("tweet %s is by user %q; want alice (%s)", id, author, alice)
				}
				if head := rdb.LIndex(ctx, "timeline:"+bob, 0).Val(); head != id {
					t.Errorf("bob's newest tweet is %q; want %s", head, id)
				}
			}
			return id, err
		}
		for range 3 {
			if _, err := postAs(secret); err != nil {
				t.Fatal(err)
			}
		}

		if err := s.Logout(ctx, secret); err != nil {
			t.Fatal(err)
		}
		before := rdb.Keys(ctx, "tweet:*").Val()
		for _, stale := range []string{secret, "no such secret", bobSecret + "x"} {
			if _, err := s.PostAs(ctx, stale, "hello"); !errors.Is(err, ErrNotLoggedIn) {
				t.Errorf("PostAs(%q): %v; want ErrNotLoggedIn", stale, err)
			}
		}
		if _, err := s.PostAs(ctx, "", "hello"); !errors.Is(err, ErrNotLoggedIn) {
			t.Errorf("PostAs without a secret: %v; want ErrNotLoggedIn", err)
		}
		if after := rdb.Keys(ctx, "tweet:*").Val(); len(after) != len(before) {
			t.Errorf("signed-out posts wrote tweets: %d before, %d after", len(before), len(after))
		}
		if n := rdb.LLen(ctx, "timeline:"+bob).Val(); n != 3 {
			t.Errorf("bob's timeline holds %d tweets; want the 3 posted while signed in", n)
		}

		// Signed in again, alice posts.
		newSecret, err := s.Login(ctx, "", "alice", "Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := postAs(newSecret); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUserTimelineIsCapped(t *testing.T) {
	forEachFanOut(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		alice, _ := mustRegister(t, s, "alice")
		bob, _ := mustRegister(t, s, "bob")
		followAlice(t, s, bob)
		pipe := rdb.Pipeline()
		for i := range UserTimelineCap + UserTimelineSlack {
			pipe.LPush(ctx, "timeline:"+alice, 100000+i)
			pipe.LPush(ctx, "timeline:"+bob, 100000+i)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// Up to the cap plus the slack the lists just grow...
		for _, id := range []string{alice, bob} {
			if n := rdb.LLen(ctx, "timeline:"+id).Val(); n != UserTimelineCap+UserTimelineSlack {
				t.Fatalf("timeline:%s holds %d ids", id, n)
			}
		}
		// ...and the post that takes them past that trims them back to the
		// cap, keeping the newest: the author's and the follower's.
		if _, err := s.Post(ctx, alice, "one more"); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		for _, id := range []string{alice, bob} {
			if n := rdb.LLen(ctx, "timeline:"+id).Val(); n != UserTimelineCap {
				t.Errorf("timeline:%s holds %d ids; want the cap %d", id, n, UserTimelineCap)
			}
			if head := rdb.LIndex(ctx, "timeline:"+id, 0).Val(); head != "1" {
				t.Errorf("timeline:%s: newest id %s; want the new tweet 1", id, head)
			}
		}
		if n := rdb.LLen(ctx, "tweets_by:"+alice).Val(); n != 1 {
			t.Errorf("tweets_by holds %d ids; want 1", n)
		}
	})
}

func TestIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	defer rdb.Close()
	s := New(rdb, testHasher, nil)
	ctx := context.Background()
	if _, _, err := s.Timeline(ctx, "", General, 0, 10); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, _, err := s.Timeline(ctx, "", General, 0, 10)
	if err == nil || !IsUnavailable(err) {
		t.Fatalf("with Redis stopped: %v; want an unavailability error", err)
	}
	if IsUnavailable(ErrNotLoggedIn) {
		t.Error("a refusal counted as unavailability")
	}
	// Replies that mean "not now" (TestClusterFailover meets the MOVED),
	// and ones that mean a bug.
	for _, c := range []struct {
		reply string
		want  bool
	}{
		{"LOADING Redis is loading the dataset in memory", true},
		{"CLUSTERDOWN The cluster is down", true},
		{"MOVED 15039 127.0.0.1:7002", true},
		{"ASK 15039 127.0.0.1:7002", true},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"OOM command not allowed when used memory > 'maxmemory'.", false},
		{"ERR unknown command 'SMISMEMBER'", false},
		{"ERR max number of clients reached", true},
		{"WRONGPASS invalid username-password pair or user is disabled.", false},
	} {
		if got := IsUnavailable(fmt.Errorf("read tweets: %w", replyError(c.reply))); got != c.want {
			t.Errorf("IsUnavailable(%q) = %v, want %v", c.reply, got, c.want)
		}
	}
}

// TestRedisRefusingCredentials: a Redis that refuses pytwask's password
// (a wrong one, or one changed under it) fails every operation with that
// refusal. go-redis fails a pipeline whose connection Redis refused
// without failing its commands, which then read as empty replies: an
// empty site, a post "saved but not confirmed by replicas".
func TestRedisRefusingCredentials(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	good := srv.Client()
	defer good.Close()
	mustRegister(t, New(good, testHasher, nil), "alice")
	opts := srv.Options()
	opts.Password = "not the password"
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	s := New(rdb, testHasher, nil)
	s.SetDurability(Durability{Replicas: 1, Timeout: 100 * time.Millisecond})
	for name, op := range map[string]func() error{
		"the general timeline": func() error { _, _, err := s.Timeline(ctx, "", General, 0, 10); return err },
		"a user's tweets":      func() error { _, _, err := s.UserTweets(ctx, "", "alice", 0, 10); return err },
		"a post":               func() error { _, err := s.Post(ctx, "1", "hello"); return err },
		"a pipeline": func() error {
			var get *redis.StringCmd
			err := s.pipelined(ctx, func(p redis.Pipeliner) { get = p.Get(ctx, keyNextUserID) })
			if get.Err() == nil {
				t.Errorf("a pipeline that failed left its command without an error (%q)", get.Val())
			}
			return err
		},
	} {
		if err := op(); !AccessRefused(err) || IsUnavailable(err) {
			t.Errorf("%s: %v; want Redis's refusal of the password", name, err)
		}
	}
}

// replyError is an error reply from Redis, as go-redis gives one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestWritesRefused: Redis refusing writes, full, unable to save or a
// replica, is told apart from other replies and from an outage. (TestUndoWhileFull and
// TestRandomOperationsWhileFull meet the real OOM reply.)
func TestWritesRefused(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{replyError("OOM command not allowed when used memory > 'maxmemory'."), true},
		{fmt.Errorf("post tweet: %w", replyError("OOM command not allowed when used memory > 'maxmemory'. script: 1, on @user_script:9.")), true},
		{replyError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."), true},
		{replyError("READONLY You can't write against a read only replica. script: 1, on @user_script:9."), true},
		{replyError("LOADING Redis is loading the dataset in memory"), false},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{errors.New("OOM command not allowed"), false}, // not a reply
		{ErrNotLoggedIn, false},
		{nil, false},
	} {
		if got := WritesRefused(c.err); got != c.want {
			t.Errorf("WritesRefused(%v) = %v; want %v", c.err, got, c.want)
		}
		if c.want && IsUnavailable(c.err) {
			t.Errorf("%v counted as an outage", c.err)
		}
	}
}

// TestAccessRefused: Redis refusing pytwask's credentials or a command its
// ACL user may not run is told apart from other replies and from an
// outage.
func TestAccessRefused(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{replyError("WRONGPASS invalid username-password pair or user is disabled."), true},
		{fmt.Errorf("read the general timeline: %w", replyError("NOAUTH Authentication required.")), true},
		{replyError("NOPERM User pytwask has no permissions to run the 'evalsha' command"), true},
		{replyError("OOM command not allowed when used memory > 'maxmemory'."), false},
		{replyError("LOADING Redis is loading the dataset in memory"), false},
		{errors.New("WRONGPASS"), false}, // not a reply
		{nil, false},
	} {
		if got := AccessRefused(c.err); got != c.want {
			t.Errorf("AccessRefused(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

// TestSessionKeysSharedByInstances: two stores on one database (two
// instances of the site) get the same generated key.
func TestSessionKeysSharedByInstances(t *testing.T) {
	srv := redistest.Start(t)
	a, b := srv.Client(), srv.Client()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	ka, err := New(a, testHasher, nil).SessionKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := New(b, testHasher, nil).SessionKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ka) != 1 || len(ka[0]) != 128 || ka[0] != kb[0] {
		t.Fatalf("keys %v and %v; want one shared 128-hex key", ka, kb)
	}

	// An instance started while Redis refuses writes reads the key.
	if srv.InProcess() {
		return // it does not fill up
	}
	c := srv.Client()
	defer c.Close()
	if err := a.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer a.ConfigSet(ctx, "maxmemory", "0")
	kc, err := New(c, testHasher, nil).SessionKeys(ctx)
	if err != nil || len(kc) != 1 || kc[0] != ka[0] {
		t.Fatalf("with Redis full: %v, %v; want the key %v", kc, err, ka)
	}
}

// TestTweetCacheFollowsTheDatabase: cached tweets are dropped when the
// database is wiped, so reused ids never show old text.
func TestTweetCacheFollowsTheDatabase(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	alice, _ := mustRegister(t, s, "alice")
	if _, err := s.Post(ctx, alice, "first database"); err != nil {
		t.Fatal(err)
	}
	if _, p, _ := s.Timeline(ctx, "", General, 0, 10); len(p.Tweets) != 1 || p.Tweets[0].Body != "first database" {
		t.Fatalf("page %+v", p)
	}
	rdb.FlushDB(ctx)
	alice, _ = mustRegister(t, s, "alice")
	if _, err := s.Post(ctx, alice, "second database"); err != nil {
		t.Fatal(err)
	}
	_, p, err := s.Timeline(ctx, "", General, 0, 10)
	if err != nil || len(p.Tweets) != 1 || p.Tweets[0].Body != "second database" {
		t.Fatalf("after a wipe, tweet 1 shows as %+v (%v)", p.Tweets, err)
	}
	// A tweet id whose hash is gone is skipped, not shown empty.
	rdb.LPush(ctx, "timeline", "999")
	if _, p, _ := s.Timeline(ctx, "", General, 0, 10); len(p.Tweets) != 1 {
		t.Errorf("a dangling id was shown: %+v", p.Tweets)
	}
}

// A timeline is trimmed by the post that takes it past its own trim point,
// which depends on its owner's id: the followers of one author, grown in
// step, are trimmed over fifty posts rather than all by one. The script and
// the transaction follow the same rule (trimPoint).
func TestTrimsAreSpread(t *testing.T) {
	forEachFanOut(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		alice, _ := mustRegister(t, s, "alice")
		owners := []string{alice}
		for i := range 60 {
			id, _ := mustRegister(t, s, fmt.Sprintf("user%d", i))
			followAlice(t, s, id)
			owners = append(owners, id)
		}
		pipe := rdb.Pipeline()
		for _, o := range owners {
			for i := range UserTimelineCap {
				pipe.LPush(ctx, "timeline:"+o, 100000+i)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		trimmedBy := map[string]int{} // owner -> the post that first trimmed it
		for post := 1; post <= UserTimelineSlack+1; post++ {
			if _, err := s.Post(ctx, alice, "hello"); err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			lens := make([]*redis.IntCmd, len(owners))
			pipe := rdb.Pipeline()
			for i, o := range owners {
				lens[i] = pipe.LLen(ctx, "timeline:"+o)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			trims := 0
			for i, o := range owners {
				n := lens[i].Val()
				if n > UserTimelineCap+UserTimelineSlack || n < UserTimelineCap {
					t.Fatalf("after post %d timeline:%s holds %d ids", post, o, n)
				}
				if n == UserTimelineCap {
					trims++
					if _, ok := trimmedBy[o]; !ok {
						trimmedBy[o] = post
					}
				}
			}
			if trims > 2 {
				t.Errorf("post %d trimmed %d timelines at once", post, trims)
			}
		}
		for _, o := range owners {
			id, _ := strconv.ParseUint(o, 10, 64)
			if want := int(trimPoint(id)) - UserTimelineCap + 1; trimmedBy[o] != want {
				t.Errorf("timeline:%s first trimmed by post %d; want %d", o, trimmedBy[o], want)
			}
		}
	})
}

// TestPasswordChecksBusy: while every hash slot stays taken (a flood of
// sign-ins), a sign-in, a sign-up and a password change each give up with
// ErrBusy after the wait, and Redis is left as it was; once a slot frees,
// the same sign-in goes through.
func TestPasswordChecksBusy(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	aliceID, secret := mustRegister(t, s, "alice")
	before, err := rdb.HGetAll(ctx, userKey(aliceID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	keys := rdb.DBSize(ctx).Val()

	s.hashSlots.Wait = 20 * time.Millisecond
	for range s.hashSlots.Cap() {
		if err := s.hashSlots.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	attempts := map[string]func() error{
		"sign-in":         func() error { _, err := s.Login(ctx, "", "alice", "Passw0rd!"); return err },
		"unknown user":    func() error { _, err := s.Login(ctx, "", "nobody", "Passw0rd!"); return err },
		"sign-up":         func() error { return s.Register(ctx, "bob", "Passw0rd!") },
		"password change": func() error { _, err := s.ChangePassword(ctx, "", secret, "Passw0rd!", "N3w-passw0rd"); return err },
	}
	for name, attempt := range attempts {
		start := time.Now()
		err := attempt()
		if !errors.Is(err, ErrBusy) {
			t.Errorf("%s: got %v, want ErrBusy", name, err)
		}
		if waited := time.Since(start); waited < s.hashSlots.Wait {
			t.Errorf("%s: gave up after %v, before the wait of %v", name, waited, s.hashSlots.Wait)
		}
	}
	after, err := rdb.HGetAll(ctx, userKey(aliceID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after, before) || rdb.DBSize(ctx).Val() != keys || rdb.HExists(ctx, keyUsers, "bob").Val() {
		t.Error("a busy password check changed Redis")
	}

	s.hashSlots.Release()
	if got, err := s.Login(ctx, "", "alice", "Passw0rd!"); err != nil || got != secret {
		t.Errorf("with a slot free: Login = %q, %v; want the current secret", got, err)
	}
}

// TestHashSlotsFollowGOMAXPROCS: one password check at a time per two of the
// cores Go runs on, and at least one.
func TestHashSlotsFollowGOMAXPROCS(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{}) // never dialled
	defer rdb.Close()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs, slots := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 8: 4} {
		runtime.GOMAXPROCS(procs)
		if got := New(rdb, testHasher, nil).hashSlots.Cap(); got != slots {
			t.Errorf("GOMAXPROCS %d: %d hash slots, want %d", procs, got, slots)
		}
	}
}

// TestWritesRefusedByAReplica: a site pointed at a replica (by mistake, or
// for the moment a failover demotes its primary) reads, and its writes are
// refused as a full Redis's are.
func TestWritesRefusedByAReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a primary, a replica and three Sentinels: the full tier runs it")
	}
	ss := redistest.StartSentinels(t)
	ctx := context.Background()
	primary, replica := ss.Client(), ss.NodeClient(ss.Replica)
	defer primary.Close()
	defer replica.Close()
	s := New(primary, testHasher, nil)
	alice, _ := mustRegister(t, s, "alice")
	id := mustPost(t, s, alice, "read me anywhere")
	ss.WaitInSync(ss.Replica, time.Now().Add(10*time.Second))

	r := New(replica, testHasher, nil)
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p, err := r.Timeline(ctx, "", General, 0, 10); err != nil || len(p.Tweets) != 1 || p.Tweets[0].ID != id {
		t.Errorf("the general timeline on the replica: %+v, %v", p.Tweets, err)
	}
	secret, err := r.Login(ctx, "", "alice", "Passw0rd!")
	if err != nil {
		t.Fatalf("sign in on the replica: %v", err)
	}
	if _, err := r.PostAs(ctx, secret, "not here"); !WritesRefused(err) {
		t.Errorf("a post on the replica: %v; want it refused", err)
	}
}
