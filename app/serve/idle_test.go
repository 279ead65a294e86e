package serve_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
	"pytwask/app/serve"
	"pytwask/app/store"
)

// TestIdleWritesNothing: an instance with nothing to do writes nothing to
// Redis. Its background work (the fan-out workers, the search indexer)
// looks for work every few seconds; a write each time would set off the
// snapshots of a Redis that saves after a few changes (ops/redis: save 300
// 10) every five minutes and grow its append-only file, on a site that
// nobody uses.
func TestIdleWritesNothing(t *testing.T) {
	t.Run("one server", func(t *testing.T) {
		t.Parallel()
		rs := redistest.Start(t)
		if rs.InProcess() {
			t.Skip("needs redis-server: the in-memory stand-in counts no changes")
		}
		rdb := rs.Client()
		defer rdb.Close()
		idleWritesNothing(t, baseEnv(rs), rdb, func(fn func(*redis.Client)) { fn(rdb) })
	})
	t.Run("Cluster", func(t *testing.T) {
		t.Parallel()
		cl := redistest.StartCluster(t)
		rdb := cl.Client()
		defer rdb.Close()
		cl.WaitReplicasSeen() // a replica's first sync would count as changes
		env := append(siteEnv(), cl.Env()...)
		// The primaries: every write goes to one of them. ForEachMaster
		// visits them at once; fn takes them one at a time.
		idleWritesNothing(t, env, rdb, func(fn func(*redis.Client)) {
			var mu sync.Mutex
			if err := rdb.ForEachMaster(context.Background(), func(_ context.Context, node *redis.Client) error {
				mu.Lock()
				defer mu.Unlock()
				fn(node)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// idleWritesNothing runs the binary on seeded data in Redis (rdb, whose
// nodes each visits) until it has nothing left to do, then checks that it
// changes nothing.
func idleWritesNothing(t *testing.T, env []string, rdb redis.UniversalClient, each func(func(*redis.Client))) {
	seed := exec.Command(binary, "seed", "--users", "20", "--follows", "5", "--tweets", "300")
	seed.Env = env
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	p := start(t, append(env, "PYTWASK_LISTEN=unix:"+filepath.Join(socketDir(t), "p.sock")))
	ctx := context.Background()

	// First the instance has work: the search index of the seeded tweets.
	deadline := time.Now().Add(30 * time.Second)
	for {
		next, _ := rdb.Get(ctx, "pytwask:search2:next").Int()
		last, _ := rdb.Get(ctx, "next_tweet_id").Int()
		if last > 0 && next > last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the search index reached tweet %d of %d in 30 s", next, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * serve.SearchIndexIdle) // a batch under way ends

	// changes sums the nodes' changes since their last snapshot, and
	// lists how often each command ran on each.
	changes := func() (n int, calls map[string]string) {
		calls = map[string]string{}
		each(func(node *redis.Client) { // maybe on another goroutine: no t.Fatal
			addr := node.Options().Addr
			info, err := node.Info(ctx, "persistence", "commandstats").Result()
			if err != nil {
				t.Errorf("INFO of %s: %v", addr, err)
				return
			}
			for _, line := range strings.Split(info, "\r\n") {
				k, v, _ := strings.Cut(line, ":")
				if k == "rdb_changes_since_last_save" {
					c, err := strconv.Atoi(v)
					if err != nil {
						t.Errorf("INFO of %s: %s", addr, line)
					}
					n += c
				} else if cmd, ok := strings.CutPrefix(k, "cmdstat_"); ok {
					calls[addr+" "+cmd], _, _ = strings.Cut(strings.TrimPrefix(v, "calls="), ",")
				}
			}
		})
		return n, calls
	}
	before, callsBefore := changes()
	// Each fan-out worker looks for its own pending jobs every JobIdle/3;
	// the indexer for new tweets every SearchIndexIdle.
	idle := store.JobIdle/3 + 2*time.Second
	time.Sleep(idle)
	if after, calls := changes(); after != before {
		var ran []string
		for cmd, n := range calls {
			if n != callsBefore[cmd] {
				ran = append(ran, fmt.Sprintf("%s %s times", cmd, n))
			}
		}
		sort.Strings(ran)
		t.Errorf("an idle instance changed the database %d times in %v; commands that ran (in all): %s",
			after-before, idle, strings.Join(ran, ", "))
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
