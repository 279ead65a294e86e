package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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

// BenchmarkPostFanOut posts as a user whom every other user follows, with
// the fan-out done by the post script and by postWide's transaction (the
// default above WideFanOut followers). The redis-usec metric is the time
// Redis spends running the script or EXEC, during which it serves nobody else.
func BenchmarkPostFanOut(b *testing.B) {
	for _, followers := range []int{1000, 10000} {
		for _, path := range []struct {
			name string
			wide int
		}{{"script", followers}, {"transaction", -1}} {
			b.Run(fmt.Sprintf("followers=%d/%s", followers, path.name), func(b *testing.B) {
				s := benchStore(b, followers+1, 1, 0)
				s.wideFanOut = path.wide
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
}

// blockingUsec is the time Redis spent in EVALSHA and EXEC since the last
// CONFIG RESETSTAT, from INFO commandstats.
func blockingUsec(b *testing.B, s *Store) float64 {
	stats := commandStats(b, s.rdb)
	return stats["evalsha"].usec + stats["exec"].usec
}
