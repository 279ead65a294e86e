package store

import (
	"context"
	"strings"
	"testing"

	"pytwask/app/redistest"
)

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		info string
		ok   bool
	}{
		// What INFO server says, in part, on the Redis of Ubuntu 20.04,
		// Debian 11 and Ubuntu 22.04, Amazon Linux 2023, Debian 12, and
		// ones to come.
		{"# Server\r\nredis_version:5.0.7\r\nredis_git_sha1:00000000\r\n", false},
		{"# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n", false},
		{"# Server\r\nredis_version:6.2.14\r\n", true},
		{"# Server\r\nredis_version:7.0.15\r\n", true},
		{"# Server\r\nredis_version:10.0.0\r\n", true},
		{"# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\n", true},
		{"# Server\r\n", true}, // not said: not refused
	} {
		if got := versionAtLeast(infoField(c.info, "redis_version"), MinRedisVersion); got != c.ok {
			t.Errorf("%q: at least 6.2 = %v; want %v", c.info, got, c.ok)
		}
	}
}

// TestRedisVersion reads the version of the test's own Redis, and of a
// Cluster's primaries.
func TestRedisVersion(t *testing.T) {
	srv := redistest.Start(t)
	if srv.InProcess() {
		t.Skip("the stand-in's INFO is not a redis-server's")
	}
	rdb := srv.Client()
	defer rdb.Close()
	v, err := New(rdb, testHasher, nil).RedisVersion(context.Background())
	if err != nil || !versionAtLeast(v, MinRedisVersion) || strings.Count(v, ".") != 2 {
		t.Errorf("one server: %q, %v", v, err)
	}
	cs, _, _ := clusterStore(t)
	v, err = cs.RedisVersion(context.Background())
	if err != nil || strings.Count(v, ",") != 2 {
		t.Errorf("a Cluster of three primaries: %q, %v", v, err)
	}
}

// TestEvicts: a Redis with a maxmemory and a policy that evicts any key
// would lose posts, accounts and sessions to make room; one that evicts
// only keys with a time to live, or none, would not.
func TestEvicts(t *testing.T) {
	srv := redistest.Start(t)
	if srv.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in has no maxmemory")
	}
	rdb := srv.Client()
	defer rdb.Close()
	s := New(rdb, testHasher, nil)
	ctx := context.Background()
	for _, c := range []struct {
		maxmemory, policy, want string
	}{
		{"0", "noeviction", ""},
		{"0", "allkeys-lru", ""},
		{"100mb", "noeviction", ""},
		{"100mb", "volatile-lru", ""},
		{"100mb", "allkeys-lru", "it evicts any key when full (maxmemory-policy allkeys-lru, maxmemory 100.00M)"},
		{"1gb", "allkeys-random", "it evicts any key when full (maxmemory-policy allkeys-random, maxmemory 1.00G)"},
	} {
		if err := rdb.ConfigSet(ctx, "maxmemory", c.maxmemory).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ConfigSet(ctx, "maxmemory-policy", c.policy).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Evicts(ctx); got != c.want || err != nil {
			t.Errorf("maxmemory %s, %s: %q, %v; want %q", c.maxmemory, c.policy, got, err, c.want)
		}
	}
}
