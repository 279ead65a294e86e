package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// keyTypes is what each pytwis key must be, for Check.
var keyTypes = []struct {
	pattern, typ string
	fixed        bool // a single key rather than a pattern
}{
	{keyNextUserID, "string", true},
	{keyNextTweetID, "string", true},
	{keyUsers, "hash", true},
	{keyAuths, "hash", true},
	{keyGeneralTimeline, "list", true},
	{prefixUser + "*", "hash", false},
	{prefixTweet + "*", "hash", false},
	{prefixTimeline + "*", "list", false},
	{prefixTweetsBy + "*", "list", false},
	{prefixFollower + "*", "zset", false},
	{prefixFollowing + "*", "zset", false},
}

// CheckLayout looks at the pytwis keys and returns one line per key whose
// type is not what pytwis wrote (at most sample keys per pattern are looked
// at), and the number of users. An empty database is fine.
func (s *Store) CheckLayout(ctx context.Context, sample int) (problems []string, users int64, err error) {
	for _, k := range keyTypes {
		keys := []string{k.pattern}
		if !k.fixed {
			keys, err = s.scan(ctx, k.pattern, sample)
			if err != nil {
				return nil, 0, err
			}
		}
		for _, key := range keys {
			typ, err := s.rdb.Type(ctx, key).Result()
			if err != nil {
				return nil, 0, fmt.Errorf("type of %s: %w", key, err)
			}
			if typ != "none" && typ != k.typ {
				problems = append(problems, fmt.Sprintf("key %s is a %s; pytwis keeps a %s there", key, typ, k.typ))
			}
		}
	}
	for _, counter := range []string{keyNextUserID, keyNextTweetID} {
		v, err := s.rdb.Get(ctx, counter).Result()
		if err == nil {
			if _, convErr := strconv.ParseInt(v, 10, 64); convErr != nil {
				problems = append(problems, fmt.Sprintf("key %s holds %q; pytwis keeps a whole number there", counter, v))
			}
		}
	}
	if len(problems) == 0 {
		users, err = s.rdb.HLen(ctx, keyUsers).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("count users: %w", err)
		}
	}
	return problems, users, nil
}

// scan returns up to limit keys matching pattern (from every primary of a
// Cluster).
func (s *Store) scan(ctx context.Context, pattern string, limit int) ([]string, error) {
	var out []string
	err := s.scanEach(ctx, pattern, func(_ context.Context, _ redis.Cmdable, keys []string) (bool, error) {
		out = append(out, keys...)
		return len(out) < limit, nil
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// scanEach calls fn with each batch of keys matching pattern and the node
// that holds them (every primary of a Cluster), until fn says to stop on
// that node or returns an error.
func (s *Store) scanEach(ctx context.Context, pattern string, fn func(ctx context.Context, c redis.Cmdable, keys []string) (bool, error)) error {
	return s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", pattern, err)
			}
			if more, err := fn(ctx, c, keys); err != nil || !more {
				return err
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}
