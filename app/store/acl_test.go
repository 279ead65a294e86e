package store

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// userRules reads the rules of the Redis user pytwask may have of its own
// from ops/redis/pytwask-redis.conf (its commented "#user pytwask" line),
// with password for the one there.
func userRules(t *testing.T, password string) []any {
	t.Helper()
	b, err := os.ReadFile("../../ops/redis/pytwask-redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#user pytwask "); ok {
			var rules []any
			for _, r := range strings.Fields(rest) {
				if strings.HasPrefix(r, ">") {
					r = ">" + password
				}
				rules = append(rules, r)
			}
			return rules
		}
	}
	t.Fatal("ops/redis/pytwask-redis.conf has no #user pytwask line")
	return nil
}

// setUser makes the user on each Redis server, and returns what each
// refused it since (ACL LOG) when the test ends.
func setUser(t *testing.T, rules []any, admins ...*redis.Client) (refused func() []string) {
	t.Helper()
	ctx := context.Background()
	for _, a := range admins {
		if err := a.Do(ctx, append([]any{"ACL", "SETUSER", "pytwask"}, rules...)...).Err(); err != nil {
			t.Fatalf("ACL SETUSER pytwask %v: %v", rules, err)
		}
		if err := a.Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
			t.Fatal(err)
		}
	}
	return func() []string {
		var out []string
		for _, a := range admins {
			entries, err := a.ACLLog(ctx, 100).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				out = append(out, e.Reason+" "+e.Object+" ("+e.Context+")")
			}
		}
		return out
	}
}

// TestOperationsAsItsOwnRedisUser runs the random operations of
// TestRandomOperations, the fan-out and the indexer, and what pytwask reads
// at its start and in `pytwask cli check`, signed in to Redis as the user
// ops/redis/pytwask-redis.conf describes: its keys only, and no
// administrative command but INFO. Redis refuses nothing (its ACL LOG
// stays empty; scripts' commands are checked too), and the user reaches no
// key of another program. On one server, on a Cluster, whose client asks
// for the slots' layout, and behind Sentinels.
func TestOperationsAsItsOwnRedisUser(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the full tier runs it")
	}
	const password = "the-user's-own-password"
	rules := userRules(t, password)
	run := func(t *testing.T, s *Store, admin, own redis.UniversalClient, refused func() []string) {
		ctx := context.Background()
		if err := admin.Set(ctx, "otherapp:secret", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		w := newWorld(t, s, admin)
		w.oneAtATime(1, 300)
		w.drain()
		everythingElse(t, s, w)
		if _, err := s.RedisVersion(ctx); err != nil {
			t.Error(err)
		}
		if _, err := s.Evicts(ctx); err != nil {
			t.Error(err)
		}
		if _, err := s.RefusesWrites(ctx); err != nil {
			t.Error(err)
		}
		if _, _, err := s.CheckLayout(ctx, 100); err != nil {
			t.Error(err)
		}
		if _, err := s.SessionKeys(ctx); err != nil {
			t.Error(err)
		}
		if got := refused(); len(got) > 0 {
			t.Errorf("Redis refused pytwask's user %d times: %s", len(got), strings.Join(got, "; "))
		}
		if err := own.Get(ctx, "otherapp:secret").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("pytwask's user read another program's key: %v", err)
		}
	}

	t.Run("one server", func(t *testing.T) {
		srv := redistest.Start(t)
		if srv.InProcess() {
			t.Skip("needs redis-server: the in-memory stand-in has no users")
		}
		admin := srv.Client()
		t.Cleanup(func() { admin.Close() })
		refused := setUser(t, rules, admin)
		opts := srv.Options()
		opts.Username, opts.Password = "pytwask", password
		own := redis.NewClient(opts)
		t.Cleanup(func() { own.Close() })
		run(t, New(own, testHasher, nil), admin, own, refused)
	})
	t.Run("Cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t)
		var nodes []*redis.Client
		for _, addr := range cl.Addrs {
			n := redis.NewClient(&redis.Options{Addr: addr, Password: cl.Password, DisableIdentity: true})
			t.Cleanup(func() { n.Close() })
			nodes = append(nodes, n)
		}
		refused := setUser(t, rules, nodes...)
		admin := cl.Client()
		t.Cleanup(func() { admin.Close() })
		own := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs, Username: "pytwask", Password: password,
			DisableIdentity: true})
		t.Cleanup(func() { own.Close() })
		run(t, New(own, testHasher, nil), admin, own, refused)
	})
	t.Run("Sentinel", func(t *testing.T) {
		ss := redistest.StartSentinels(t)
		// Users are each server's own: the replica needs the user too, for
		// the day it is promoted.
		var nodes []*redis.Client
		for _, addr := range []string{ss.Primary, ss.Replica} {
			n := ss.NodeClient(addr)
			t.Cleanup(func() { n.Close() })
			nodes = append(nodes, n)
		}
		refused := setUser(t, rules, nodes...)
		admin := ss.Client()
		t.Cleanup(func() { admin.Close() })
		own := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.SentinelMaster, SentinelAddrs: ss.Addrs,
			Username: "pytwask", Password: password, DB: redistest.DB, DialTimeout: time.Second, DisableIdentity: true})
		t.Cleanup(func() { own.Close() })
		run(t, New(own, testHasher, nil), admin, own, refused)
	})
}

// everythingElse runs, as the world's first user still there, the store's
// operations that the random world does not: the pages' reads, search, the
// limits, an operator's commands, a seed, and a fan-out worker's loop.
func everythingElse(t *testing.T, s *Store, w *world) {
	t.Helper()
	ctx := context.Background()
	var u randomUser
	for _, x := range w.users {
		if x.secret != "" {
			u = x
			break
		}
	}
	if u.secret == "" {
		t.Fatal("no user of the random world is left")
	}
	var tweet string
	if len(w.tweets) > 0 {
		tweet = w.tweets[len(w.tweets)-1]
	}
	q, err := ParseQuery("hello #tag")
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil && !isKind(err, NotFound) {
			t.Errorf("%s: %v", what, err)
		}
	}
	for _, f := range []Feed{General, Own} {
		_, _, err := s.Timeline(ctx, u.secret, f, 0, 20)
		must("timeline "+string(f), err)
	}
	_, _, err = s.UserTweets(ctx, u.secret, u.name, 0, 20)
	must("user tweets", err)
	if tweet != "" {
		_, _, err = s.TweetConversation(ctx, u.secret, tweet, 0, 20)
		must("conversation", err)
		_, _, err = s.TweetFor(ctx, u.id, tweet)
		must("tweet", err)
		_, err = s.Versions(ctx, tweet)
		must("versions", err)
	}
	_, _, err = s.TagTweets(ctx, u.secret, "tag", 0, 20)
	must("tag", err)
	_, _, err = s.SearchTweets(ctx, u.secret, q, 0, 20)
	must("search tweets", err)
	_, err = s.SearchUsers(ctx, q)
	must("search users", err)
	_, err = s.UserProfile(ctx, u.secret)
	must("profile", err)
	_, err = s.FollowersPage(ctx, u.id, 1)
	must("followers", err)
	_, err = s.FollowingPage(ctx, u.id, 1)
	must("following", err)
	_, err = s.Authenticate(ctx, u.secret)
	must("authenticate", err)
	_, err = s.Hit(ctx, "acl", u.id, Limit{Max: 5, Window: time.Minute})
	must("a limit", err)
	must("a refund", s.Refund(ctx, "acl", u.id, Limit{Max: 5, Window: time.Minute}))
	must("ping", s.Ping(ctx))
	_, _, err = s.ResetToken(ctx, u.name)
	must("an operator's reset link", err)
	_, err = s.RenewSecret(ctx, u.secret)
	must("a new secret", err)
	_, err = s.Seed(ctx, SeedOptions{Users: 5, Follows: 2, Tweets: 20, Password: "Passw0rd!", Force: true,
		Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Now()})
	must("seed", err)
	must("an operator's deletion", s.DeleteUser(ctx, u.name, time.Hour))
	worker, stop := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer stop()
	s.RunFanOut(worker, "acl") // until the timeout: reads, claims, pending jobs
	w.drain()
}
