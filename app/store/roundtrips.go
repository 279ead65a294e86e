package store

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// roundTrips counts the requests the store's go-redis client sends to Redis
// (add is the client's hook, through eachCall): one per command, one per
// pipeline. Redis's own counters include the commands run inside scripts,
// which cost no round trip, so this is how pytwask shows that a page costs
// a constant number of them.
type roundTrips struct{ n atomic.Int64 }

// count returns the round trips so far.
func (c *roundTrips) count() int64 { return c.n.Load() }

// add counts one round trip.
func (c *roundTrips) add() { c.n.Add(1) }

// eachCall is a go-redis hook that calls f before each command and each
// pipeline the client sends on its way to Redis: once per round trip.
type eachCall func()

func (f eachCall) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f eachCall) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f()
		return next(ctx, cmd)
	}
}

func (f eachCall) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		f()
		return next(ctx, cmds)
	}
}
