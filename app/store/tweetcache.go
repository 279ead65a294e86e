package store

import "sync"

// tweetCache keeps tweets in process. pytwis never changes a tweet once
// posted, so a cached tweet is valid for as long as the database is the same
// one: entries belong to a generation (keyGeneration), and a new generation
// empties the cache. About max tweets are kept: the current map and the one
// before it, so a whole generation of old entries is dropped at once instead
// of tracking recency per entry.
type tweetCache struct {
	mu       sync.Mutex
	gen      string
	cur, old map[string]Tweet
	half     int
}

func newTweetCache(max int) *tweetCache {
	return &tweetCache{cur: map[string]Tweet{}, old: map[string]Tweet{}, half: max / 2}
}

// lookup fills out[i] for each cached ids[i] and returns the indexes of the
// ids it does not have.
func (c *tweetCache) lookup(gen string, ids []string, out []Tweet) (missing []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setGeneration(gen)
	for i, id := range ids {
		t, ok := c.cur[id]
		if !ok {
			if t, ok = c.old[id]; ok {
				c.put(id, t) // still in use: carry it into the current map
			}
		}
		if ok {
			out[i] = t
		} else {
			missing = append(missing, i)
		}
	}
	return missing
}

func (c *tweetCache) add(gen string, tweets []Tweet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setGeneration(gen)
	for _, t := range tweets {
		c.put(t.ID, t)
	}
}

func (c *tweetCache) setGeneration(gen string) {
	if gen != c.gen {
		c.gen = gen
		c.cur, c.old = map[string]Tweet{}, map[string]Tweet{}
	}
}

func (c *tweetCache) put(id string, t Tweet) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]Tweet, c.half)
	}
	c.cur[id] = t
}
