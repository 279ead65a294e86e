package store

import (
	"sync"

	"pytwask/app/cache"
)

// tweetCache keeps tweets in process. pytwis never changes a tweet once
// posted, so a cached tweet is valid for as long as the database is the same
// one: entries belong to a generation (keyGeneration), and a new generation
// empties the cache.
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

func (c *tweetCache) setGeneration(gen string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		c.gen = gen
		c.tweets.Clear()
	}
}
