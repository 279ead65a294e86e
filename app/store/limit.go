package store

import (
	"context"
	"fmt"
	"time"
)

// Rate limits are counted in Redis, so that a limit holds across every
// instance of the site. Counters are fixed windows: the first hit starts the
// window, and the key expires with it.

// hitScript: KEYS counter; ARGV limit, window in ms. Counts one hit; returns
// the milliseconds until the window ends if the count is now over the limit,
// else 0.
var hitScript = script(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
`)

// Limit is at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Hit counts an event for subject in bucket and returns how long to wait if
// the limit is now exceeded (0 when allowed). A zero limit allows everything.
func (s *Store) Hit(ctx context.Context, bucket, subject string, l Limit) (time.Duration, error) {
	if l.Max <= 0 {
		return 0, nil
	}
	ms, err := hitScript.Run(ctx, s.rdb, []string{limitKey(bucket, subject)}, l.Max, l.Window.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", bucket, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// refundScript: KEYS counter. Takes back one hit, if the window still
// holds any.
var refundScript = script(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
`)

// Refund takes back one event that Hit counted for subject in bucket: an
// attempt reserved before its outcome was known, which turned out not to
// count (a sign-in that succeeded). A zero limit counted nothing.
func (s *Store) Refund(ctx context.Context, bucket, subject string, l Limit) error {
	if l.Max <= 0 {
		return nil
	}
	if err := refundScript.Run(ctx, s.rdb, []string{limitKey(bucket, subject)}).Err(); err != nil {
		return fmt.Errorf("rate limit %s: refund: %w", bucket, err)
	}
	return nil
}
