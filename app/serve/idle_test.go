package serve_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	rs := redistest.Start(t)
	if rs.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in counts no changes")
	}
	env := baseEnv(rs)
	seed := exec.Command(binary, "seed", "--users", "20", "--follows", "5", "--tweets", "300")
	seed.Env = env
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	p := start(t, append(env, "PYTWASK_LISTEN=unix:"+filepath.Join(socketDir(t), "p.sock")))
	ctx := context.Background()
	rdb := rs.Client()
	defer rdb.Close()

	// First the instance has work: the search index of the seeded tweets.
	deadline := time.Now().Add(30 * time.Second)
	for {
		next, _ := rdb.Get(ctx, "pytwask:search:next").Int()
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

	info := func(section string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(rdb.Info(ctx, section).Val(), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				m[k] = v
			}
		}
		return m
	}
	changes := func() int {
		n, err := strconv.Atoi(info("persistence")["rdb_changes_since_last_save"])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, calls := changes(), info("commandstats")
	// Each fan-out worker looks for its own pending jobs every JobIdle/3;
	// the indexer for new tweets every SearchIndexIdle.
	idle := store.JobIdle/3 + 2*time.Second
	time.Sleep(idle)
	if n := changes() - before; n != 0 {
		var ran []string
		for cmd, stats := range info("commandstats") {
			if stats != calls[cmd] {
				ran = append(ran, strings.TrimPrefix(cmd, "cmdstat_")+" "+callsOf(stats)+" (was "+callsOf(calls[cmd])+")")
			}
		}
		t.Errorf("an idle instance changed the database %d times in %v; commands run: %s", n, idle, strings.Join(ran, ", "))
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// callsOf is the calls= count in an INFO commandstats value.
func callsOf(stats string) string {
	calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
	return calls
}
