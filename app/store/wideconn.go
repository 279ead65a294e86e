package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"pytwask/app/resp"
)

// wideConns hands postWide its connections. One is kept from post to post,
// and on it Redis tracks the follower sets read through it (client-side
// caching, CLIENT TRACKING), so that an author's next post uses the set the
// connection holds instead of reading 10,000 members again: under load that
// read took 4 ms at the median and up to 23. A post that finds the kept
// connection taken, by another wide post, gets one of its own for that post
// only, without tracking: asking for it would cost two round trips, for a
// cache closed with the connection.
type wideConns struct {
	opt    *redis.Options
	mu     sync.Mutex
	kept   *wideConn // nil while lent, and until the first post
	lent   bool      // the connection to keep is in use
	closed bool
}

// wideConn is a connection for postWide, with the follower sets it has read
// whose change Redis has not reported since.
type wideConn struct {
	*resp.Conn
	followers map[string]*followers // by follower-set key; nil if Redis can't track
	cached    int                   // members in followers
	keep      bool                  // the connection to keep, not one for a post at the same time
	reused    bool                  // kept from an earlier post
	broken    bool                  // a failed read or write left it in an unknown state
}

// maxCachedFollowers bounds the members a connection holds, at 8 bytes
// each: the followers of a few popular authors.
const maxCachedFollowers = 1 << 18

// get returns a connection for one post, bound to ctx. put hands it back.
func (w *wideConns) get(ctx context.Context) (*wideConn, error) {
	w.mu.Lock()
	c, keep := w.kept, !w.lent && !w.closed
	w.kept, w.lent = nil, true
	w.mu.Unlock()
	if c == nil {
		return w.dial(ctx, keep)
	}
	c.Bind(ctx)
	c.reused = true
	return c, nil
}

// dial opens a connection; one to keep asks Redis to track for it, which
// Redis 5 can't: the connection then has no cache, and every post reads the
// set.
func (w *wideConns) dial(ctx context.Context, keep bool) (*wideConn, error) {
	rc, err := resp.Dial(ctx, w.opt)
	if err != nil {
		if keep {
			w.putBack(nil)
		}
		return nil, err
	}
	c := &wideConn{Conn: rc, keep: keep}
	if !keep {
		return c, nil
	}
	tracking, err := rc.Track(c.invalidate)
	if err != nil {
		rc.Close()
		w.putBack(nil)
		return nil, err
	}
	if tracking {
		c.followers = make(map[string]*followers)
	}
	return c, nil
}

// replace closes c and dials one for the same use in its place.
func (w *wideConns) replace(ctx context.Context, c *wideConn) (*wideConn, error) {
	c.Close()
	return w.dial(ctx, c.keep)
}

// put hands back a connection that get or dial returned: the one to keep is
// kept for the next post, unless it may be mid-reply; any other is closed.
func (w *wideConns) put(c *wideConn) {
	if !c.keep {
		c.Close()
		return
	}
	if !c.Release() || c.broken {
		c.Close()
		c = nil
	}
	w.putBack(c)
}

// putBack makes c, or none, the kept connection, and ends the lending.
func (w *wideConns) putBack(c *wideConn) {
	w.mu.Lock()
	w.lent = false
	keep := c != nil && w.kept == nil && !w.closed
	if keep {
		w.kept = c
	}
	w.mu.Unlock()
	if c != nil && !keep {
		c.Close()
	}
}

// Close closes the kept connection; later posts each use a connection of
// their own.
func (w *wideConns) Close() {
	w.mu.Lock()
	c := w.kept
	w.kept, w.closed = nil, true
	w.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// invalidate drops the follower set that Redis says has changed (key), or
// all of them (nil).
func (c *wideConn) invalidate(key []byte) {
	if key == nil {
		clear(c.followers)
		c.cached = 0
		return
	}
	if fs, ok := c.followers[string(key)]; ok {
		c.cached -= fs.len()
		delete(c.followers, string(key))
	}
}

// remember keeps the follower set just read for key, making room by
// dropping others.
func (c *wideConn) remember(key string, fs *followers) {
	if c.followers == nil || fs.len() > maxCachedFollowers {
		return
	}
	for k, old := range c.followers {
		if c.cached+fs.len() <= maxCachedFollowers {
			break
		}
		c.cached -= old.len()
		delete(c.followers, k)
	}
	c.followers[key] = fs
	c.cached += fs.len()
}

// failed marks c broken if err is not nil, and returns err.
func (c *wideConn) failed(err error) error {
	if err != nil {
		c.broken = true
	}
	return err
}
