package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// sentOnce keeps go-redis's Cluster client from sending a command again
// once it may have reached Redis. That client sends a command anew when
// its reply comes late or its connection breaks, up to MaxRedirects times,
// whatever MaxRetries says (go-redis issue 1481); Redis may have run each
// copy, and a step run twice counts twice (an unread notification) or
// finds its own write and takes it for another's (a name claimed by the
// sign-up itself, which then takes its account back). A command marked
// NoRetry is not sent again; a redirect (MOVED, ASK) still is, as Redis
// did not run it, and so is a pipeline that found no connection. The
// one-server clients do not try again at all (redisconn).
type sentOnce struct{}

// noRetry is a command go-redis must not send again.
type noRetry struct{ redis.Cmder }

func (noRetry) NoRetry() bool { return true }

func (sentOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (sentOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return next(ctx, noRetry{cmd})
	}
}

func (sentOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		marked := make([]redis.Cmder, len(cmds))
		for i, cmd := range cmds {
			marked[i] = noRetry{cmd}
		}
		return next(ctx, marked)
	}
}
