package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

func benchStore(b *testing.B, users, celebrities, tweets int) *Store {
	b.Helper()
	srv := redistest.Start(b)
	rdb := srv.Client()
	b.Cleanup(func() { rdb.Close() })
	s := New(rdb, testHasher, nil)
	_, err := s.Seed(context.Background(), SeedOptions{Users: users, Follows: 0, Celebrities: celebrities, Tweets: tweets,
		Password: "Passw0rd!", Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkReadTimelinePage reads the first 50 tweets of the general
// timeline: with the tweets cached in process (steady state) and without.
func BenchmarkReadTimelinePage(b *testing.B) {
	s := benchStore(b, 100, 0, 5000)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, p, err := s.Timeline(ctx, "", General, 0, 50); err != nil || len(p.Tweets) != 50 {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.tweets = newTweetCache(TweetCacheSize)
			if _, p, err := s.Timeline(ctx, "", General, 0, 50); err != nil || len(p.Tweets) != 50 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPost posts as a user whom every other user follows: with 1,000
// followers the post script pushes to them all; with 10,000 it leaves a
// fan-out job. redis-usec/op is the time Redis spent in the script, during
// which it serves nobody else.
func BenchmarkPost(b *testing.B) {
	for _, followers := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("followers=%d", followers), func(b *testing.B) {
			s := benchStore(b, followers+1, 1, 0)
			ctx := context.Background()
			s.rdb.ConfigResetStat(ctx)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Post(ctx, "1", "a tweet for everybody"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(blockingUsec(b, s)/float64(b.N), "redis-usec/op")
		})
	}
}

// BenchmarkFanOutJob runs the fan-out job of a post to 10,000 followers;
// redis-usec/step is the longest any one of its steps held Redis, on
// average.
func BenchmarkFanOutJob(b *testing.B) {
	s := benchStore(b, 10001, 1, 0)
	ctx := context.Background()
	s.rdb.ConfigResetStat(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Post(ctx, "1", "a tweet for everybody"); err != nil {
			b.Fatal(err)
		}
		if err := s.DrainFanOut(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	stats := commandStats(b, s.rdb)
	b.ReportMetric(stats["evalsha"].usec/float64(stats["evalsha"].calls), "redis-usec/script")
}

// blockingUsec is the time Redis spent in EVALSHA since the last CONFIG
// RESETSTAT, from INFO commandstats.
func blockingUsec(b *testing.B, s *Store) float64 {
	return commandStats(b, s.rdb)["evalsha"].usec
}

type commandStat struct {
	calls int
	usec  float64
}

// commandStats reads INFO commandstats: each command's calls and time since
// the last CONFIG RESETSTAT.
func commandStats(tb testing.TB, rdb redis.UniversalClient) map[string]commandStat {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil && strings.Contains(err.Error(), "not supported") && !redistest.Strict() {
		tb.Skip("the in-process Redis has no INFO commandstats: install redis-server to run the rest")
	}
	if err != nil {
		tb.Fatal(err)
	}
	stats := map[string]commandStat{}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			var st commandStat
			name, fields, _ := strings.Cut(rest, ":")
			if _, err := fmt.Sscanf(fields, "calls=%d,usec=%g", &st.calls, &st.usec); err == nil {
				stats[name] = st
			}
		}
	}
	return stats
}

// BenchmarkDeleteJob deletes a tweet that reached 10,000 followers'
// timelines, and runs the job that takes it off them: the time a deletion
// takes to reach every timeline.
func BenchmarkDeleteJob(b *testing.B) {
	s := benchStore(b, 10001, 1, 0)
	ctx := context.Background()
	secret, err := s.Login(ctx, "", s.rdb.HGet(ctx, "user:1", "username").Val(), "Passw0rd!")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		id, err := s.Post(ctx, "1", "a tweet for everybody, for a moment")
		if err == nil {
			err = s.DrainFanOut(ctx, "bench")
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.DeleteTweet(ctx, secret, id); err != nil {
			b.Fatal(err)
		}
		if err := s.DrainFanOut(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
