package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"pytwask/app/resp"
	"pytwask/app/slots"
)

// pageConns hands readPagePipelined its connections (package resp): a
// signed-in page sends up to nine commands, and go-redis's command objects
// cost pytwask about 2 µs of CPU each, more than Redis takes to run them.
// On the 2-core benchmark machine that was a tenth of a user's tweets page.
// Connections are kept between pages, up to opt.PoolSize of them at once, as
// go-redis bounds its own; a page that finds them all taken waits up to
// opt.PoolTimeout, and is then told Redis is unavailable
// (redis.ErrPoolTimeout), as with go-redis.
type pageConns struct {
	opt   *redis.Options
	trips *roundTrips
	open  *slots.Slots // one per connection, idle or lent

	mu     sync.Mutex
	idle   []*pageConn
	closed bool
}

// pageConn is a connection for page reads, with a buffer for its replies.
type pageConn struct {
	*resp.Conn
	buf    []byte
	reused bool // kept from an earlier page: it may have been closed meanwhile
}

func newPageConns(opt *redis.Options, trips *roundTrips) *pageConns {
	return &pageConns{opt: opt, trips: trips, open: slots.New(opt.PoolSize, opt.PoolTimeout, redis.ErrPoolTimeout)}
}

// get returns a connection bound to ctx, an idle one if there is one. put
// hands it back.
func (p *pageConns) get(ctx context.Context) (*pageConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.Bind(ctx)
		c.reused = true
		return c, nil
	}
	p.mu.Unlock()
	if err := p.open.Acquire(ctx); err != nil {
		return nil, err
	}
	return p.dial(ctx)
}

// dial opens a connection in a slot already taken, which it gives back if
// the dial fails.
func (p *pageConns) dial(ctx context.Context) (*pageConn, error) {
	rc, err := resp.Dial(ctx, p.opt)
	if err != nil {
		p.open.Release()
		return nil, err
	}
	return &pageConn{Conn: rc}, nil
}

// replace closes c, which failed, and opens one in its place.
func (p *pageConns) replace(ctx context.Context, c *pageConn) (*pageConn, error) {
	c.Close()
	return p.dial(ctx)
}

// flush sends the commands buffered on c, counted as one round trip.
func (p *pageConns) flush(c *pageConn) error {
	p.trips.add()
	return c.Flush()
}

// put hands back a connection from get: kept for the next page if it
// served this one to the end (ok) and its context did not cut it short,
// closed otherwise, as it may be mid-reply.
func (p *pageConns) put(c *pageConn, ok bool) {
	ok = c.Release() && ok
	p.mu.Lock()
	keep := ok && !p.closed
	if keep {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		c.Close()
		p.open.Release()
	}
}

// Close closes the idle connections, and those handed back later.
func (p *pageConns) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
		p.open.Release()
	}
}

// str reads a bulk-string reply; ok is false for a nil one.
func (c *pageConn) str() (s string, ok bool, err error) {
	c.buf, ok, err = c.AppendBulk(c.buf[:0])
	return string(c.buf), ok, err
}

// pair reads an array reply of two bulk strings (HMGET of two fields), nil
// ones as "".
func (c *pageConn) pair() (a, b string, err error) {
	n, err := c.ReadArrayLen()
	if err != nil {
		return "", "", err
	}
	if n != 2 {
		return "", "", fmt.Errorf("read from redis: %d values, want 2", n)
	}
	if a, _, err = c.str(); err == nil {
		b, _, err = c.str()
	}
	return a, b, err
}
