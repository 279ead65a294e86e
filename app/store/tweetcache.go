package store

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/cache"
)

// tweetCache keeps tweets in process. pytwis never changes a tweet once
// posted, and pytwask only by deleting or editing it, which gives the database a new
// generation (keyGeneration), as wiping it does: entries belong to a
// generation, and a new one, read with the next page, empties the cache.
// So does a new connection to Redis (onDial), which may reach one that
// lost the newest posts.
type tweetCache struct {
	mu     sync.Mutex // guards gen
	gen    string
	tweets *cache.Bounded[string, Tweet]
}

func newTweetCache(size int) *tweetCache {
	return &tweetCache{tweets: cache.New[string, Tweet](size)}
}

// lookup fills out[i] for each cached ids[i] and returns the indexes of the
// ids it does not have.
func (c *tweetCache) lookup(gen string, ids []string, out []Tweet) (missing []int) {
	c.setGeneration(gen)
	for i, id := range ids {
		if t, ok := c.tweets.Get(id); ok {
			out[i] = t
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

func (c *tweetCache) add(gen string, tweets []Tweet) {
	c.setGeneration(gen)
	for _, t := range tweets {
		c.tweets.Put(t.ID, t)
	}
}

// clear drops every tweet.
func (c *tweetCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen = ""
	c.tweets.Clear()
}

func (c *tweetCache) setGeneration(gen string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		c.gen = gen
		c.tweets.Clear()
	}
}

// CountsTTL is how long a tweet's counts are kept in process. Unlike a
// tweet, they change: a page may show counts this old, from a like or a
// reply on another instance; a change made through this instance is
// seen at once (forget). A timeline's tweets are mostly the same for every
// reader, so their counts are read from Redis about once per TTL rather
// than once per page.
const CountsTTL = 2 * time.Second

// countsCache keeps tweets' reply, repost and like counts for CountsTTL.
type countsCache struct {
	now    func() time.Time
	counts *cache.Bounded[string, counted]
}

type counted struct {
	replies, reposts, likes int64
	at                      time.Time
}

func newCountsCache(size int, now func() time.Time) *countsCache {
	return &countsCache{now: now, counts: cache.New[string, counted](size)}
}

// lookup sets the counts of each tweets[i] (ids[i]'s) that it holds fresh,
// and returns the indexes of those it does not.
func (c *countsCache) lookup(ids []string, tweets []Tweet) (missing []int) {
	now := c.now()
	for i, id := range ids {
		if n, ok := c.counts.Get(id); ok && now.Sub(n.at) < CountsTTL {
			tweets[i].Replies, tweets[i].Reposts, tweets[i].Likes = n.replies, n.reposts, n.likes
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

func (c *countsCache) add(t *Tweet) {
	c.counts.Put(t.ID, counted{replies: t.Replies, reposts: t.Reposts, likes: t.Likes, at: c.now()})
}

// clear drops every tweet's counts.
func (c *countsCache) clear() { c.counts.Clear() }

// forget drops the counts of a tweet this instance just changed.
func (c *countsCache) forget(id string) {
	c.counts.Put(id, counted{})
}

// onDial is a go-redis hook that calls dialed after each new connection
// to Redis.
//
// The store drops the tweets and counts it keeps then (Store.dropKept): a
// new connection may reach a Redis that is not the one they were read
// from (restarted from files that missed the last writes, restored from a
// backup, a replica promoted by a failover). Such a Redis has lost the
// newest posts and gives their ids to new ones, under the same generation,
// so that a kept tweet would show a lost post's text and author under a
// new post's id. A connection made for any other reason (the pool
// growing) costs a few tweets read again.
type onDial struct{ dialed func() }

func (h onDial) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err == nil {
			h.dialed()
		}
		return conn, err
	}
}

func (h onDial) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h onDial) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
