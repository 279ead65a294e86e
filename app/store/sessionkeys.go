package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// SessionKeys returns the cookie-signing key kept in Redis, creating it on
// first use. SET NX makes every instance that starts at once agree on one
// key. It is read first, and made only when missing, so that an instance
// (re)started while Redis refuses writes (WritesRefused) still reads it.
func (s *Store) SessionKeys(ctx context.Context) ([]string, error) {
	key, err := s.rdb.Get(ctx, keySessionKeys).Result()
	if errors.Is(err, redis.Nil) {
		if err := s.rdb.SetNX(ctx, keySessionKeys, newSecret()+newSecret(), 0).Err(); err != nil {
			return nil, fmt.Errorf("create session key: %w", err)
		}
		key, err = s.rdb.Get(ctx, keySessionKeys).Result()
	}
	if err != nil {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	return []string{key}, nil
}
