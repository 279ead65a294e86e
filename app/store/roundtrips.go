package store

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// roundTrips counts the requests the store's go-redis client sends to Redis
// (it is the client's hook): one per command, one per pipeline. Redis's own
// counters include the commands run inside scripts, which cost no round
// trip, so this is how pytwask shows that a page costs a constant number of
// them.
type roundTrips struct{ n atomic.Int64 }

// count returns the round trips so far.
func (c *roundTrips) count() int64 { return c.n.Load() }

// add counts one round trip.
func (c *roundTrips) add() { c.n.Add(1) }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add()
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add()
		return next(ctx, cmds)
	}
}
