package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MinRedisVersion is the oldest Redis that has every command pytwask runs:
// SMISMEMBER and XAUTOCLAIM came in 6.2.
var MinRedisVersion = [2]int{6, 2}

// OldRedisError names a Redis older than MinRedisVersion.
type OldRedisError struct{ Version string }

func (e *OldRedisError) Error() string {
	return fmt.Sprintf("this Redis is %s, older than %d.%d, the oldest pytwask runs on (for SMISMEMBER and XAUTOCLAIM)",
		e.Version, MinRedisVersion[0], MinRedisVersion[1])
}

// RedisVersion returns the version of the Redis servers, one per primary
// of a Cluster (they should agree); an *OldRedisError for one older than
// MinRedisVersion.
func (s *Store) RedisVersion(ctx context.Context) (string, error) {
	var versions []string
	err := s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return fmt.Errorf("read the Redis version: %w", err)
		}
		v := infoField(info, "redis_version")
		versions = append(versions, v)
		if !versionAtLeast(v, MinRedisVersion) {
			return &OldRedisError{v}
		}
		return nil
	})
	return strings.Join(versions, ", "), err
}

// infoField is a field of an INFO reply ("" if absent).
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// versionAtLeast reports whether a version ("7.0.15") is min or newer;
// one that does not parse is taken for newer, rather than refused.
func versionAtLeast(v string, min [2]int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return true
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return major > min[0] || major == min[0] && minor >= min[1]
}

// Evicts says how Redis would lose data to make room ("" if it would
// not): at its maxmemory, an allkeys-* policy evicts any key, so posts,
// accounts and sessions vanish without a word and lists name tweets that
// are gone (which pytwis fails on). ops/redis/pytwask-redis.conf has
// noeviction; Redis set up as a cache has the others. A volatile-*
// policy evicts only keys with a time to live: pytwask's limits, links
// and kept searches.
func (s *Store) Evicts(ctx context.Context) (string, error) {
	var why []string
	err := s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return fmt.Errorf("read the Redis state: %w", err)
		}
		policy := infoField(info, "maxmemory_policy")
		if most, _ := strconv.ParseInt(infoField(info, "maxmemory"), 10, 64); most > 0 && strings.HasPrefix(policy, "allkeys-") {
			why = append(why, fmt.Sprintf("it evicts any key when full (maxmemory-policy %s, maxmemory %s)", policy, infoField(info, "maxmemory_human")))
		}
		return nil
	})
	return strings.Join(slices.Compact(why), "; "), err
}

// RefusesWrites says why Redis would refuse writes though it answers
// ("" if it would not): a replica, or full (at its maxmemory with nothing
// it may evict). One that cannot save to disk says so itself (MISCONF).
func (s *Store) RefusesWrites(ctx context.Context) (string, error) {
	var why []string
	err := s.forEachPrimary(ctx, func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "replication", "memory").Result()
		if err != nil {
			return fmt.Errorf("read the Redis state: %w", err)
		}
		if infoField(info, "role") == "slave" {
			why = append(why, fmt.Sprintf("it is a replica (of %s:%s)", infoField(info, "master_host"), infoField(info, "master_port")))
		}
		used, _ := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
		most, _ := strconv.ParseInt(infoField(info, "maxmemory"), 10, 64)
		if most > 0 && used >= most && infoField(info, "maxmemory_policy") == "noeviction" {
			why = append(why, fmt.Sprintf("it is full (%s of its maxmemory %s)", infoField(info, "used_memory_human"), infoField(info, "maxmemory_human")))
		}
		return nil
	})
	return strings.Join(why, "; "), err
}
