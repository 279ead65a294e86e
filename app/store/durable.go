package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is a change that Redis's primary made but that too few
// replicas confirmed in time (REDIS_WAIT_REPLICAS): it is saved, but a
// failover now could lose it.
var ErrNotReplicated = errors.New("the change was not confirmed by enough replicas in time")

// Durability is how many replicas must have a change that the user is told
// is saved (a sign-up, a post, a new password), and how long to wait for
// them. The zero value waits for none: a failover may then lose the last
// changes before it, as Redis's asynchronous replication does.
type Durability struct {
	Replicas int
	Timeout  time.Duration
}

// SetDurability makes the writes the user is told about wait for replicas.
// It is called once, before the store is used.
func (s *Store) SetDurability(d Durability) { s.durability = d }

// runDurable runs a script that writes what the user is told is saved. With
// replicas to wait for, the script and a WAIT go in one pipeline, on one
// connection, so that WAIT counts the replicas that have the script's
// writes; fewer in time fails the command with ErrNotReplicated.
func (s *Store) runDurable(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	d := s.durability
	if d.Replicas == 0 {
		return sc.Run(ctx, s.rdb, keys, args...)
	}
	var run *redis.Cmd
	var wait *redis.Cmd
	send := func(eval func(p redis.Pipeliner) *redis.Cmd) {
		_ = failed(s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			run = eval(p)
			// Within the client's read timeout (2 s): the setting is at most 1 s.
			wait = p.Do(ctx, "WAIT", d.Replicas, d.Timeout.Milliseconds())
			return nil
		})) // each command keeps its own error
	}
	send(func(p redis.Pipeliner) *redis.Cmd { return sc.EvalSha(ctx, p, keys, args...) })
	if redis.HasErrorPrefix(run.Err(), "NOSCRIPT") {
		// Not run: Redis did not have the script (it restarted).
		send(func(p redis.Pipeliner) *redis.Cmd { return sc.Eval(ctx, p, keys, args...) })
	}
	switch {
	case run.Err() != nil:
	case wait.Err() != nil:
		run.SetErr(fmt.Errorf("wait for replicas: %w", wait.Err()))
	default:
		if n, _ := wait.Int64(); n < int64(d.Replicas) {
			run.SetErr(fmt.Errorf("%w (%d of %d)", ErrNotReplicated, n, d.Replicas))
		}
	}
	return run
}
