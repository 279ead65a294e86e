package store

import (
	"context"
	"fmt"
)

// SessionKeys returns the cookie-signing key kept in Redis, creating it on
// first use. SET NX makes every instance that starts at once agree on one key.
func (s *Store) SessionKeys(ctx context.Context) ([]string, error) {
	if err := s.rdb.SetNX(ctx, keySessionKeys, newSecret()+newSecret(), 0).Err(); err != nil {
		return nil, fmt.Errorf("create session key: %w", err)
	}
	key, err := s.rdb.Get(ctx, keySessionKeys).Result()
	if err != nil {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	return []string{key}, nil
}
