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
	s := New(rdb, testHasher)
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

// BenchmarkPostFanOut posts as a user whom every other user follows: one
// atomic script pushes the tweet onto every follower's timeline.
func BenchmarkPostFanOut(b *testing.B) {
	for _, followers := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("followers=%d", followers), func(b *testing.B) {
			s := benchStore(b, followers+1, 1, 0)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Post(ctx, "1", "a tweet for everybody"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
