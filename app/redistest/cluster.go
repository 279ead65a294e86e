package redistest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three primaries with a replica each, on
// loopback TCP, owned by one test.
type Cluster struct {
	*Sentinels // the processes; no Sentinel runs
	Addrs      []string
}

// StartCluster starts six cluster-enabled redis-server processes, joins them
// with redis-cli --cluster create, and waits until every node reports the
// cluster ok. Without redis-server and redis-cli the test is skipped, or
// fails in strict mode.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test needs redis-server and redis-cli (the full tier runs it)")
	}
	for _, tool := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			if Strict() {
				t.Fatalf("%s is not installed (required in CI): %v", tool, err)
			}
			t.Skipf("%s is not installed (apt-get install redis-server)", tool)
		}
	}
	c := &Cluster{Sentinels: &Sentinels{t: t, dir: t.TempDir(), Password: randomHex(16), procs: map[string]*exec.Cmd{}}}
	t.Cleanup(c.stopAll)
	for range 6 {
		addr := "127.0.0.1:" + freePort(t)
		c.startServer(addr, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(c.dir, port(addr), "nodes.conf"),
			"--cluster-node-timeout", "2000")
		c.Addrs = append(c.Addrs, addr)
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, c.Addrs...), "--cluster-replicas", "1", "--cluster-yes")...)
	create.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		n := redis.NewClient(&redis.Options{Addr: addr, Password: c.Password, DisableIdentity: true, MaxRetries: -1})
		for {
			info, err := n.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && replicasOnline(n) == 3 {
				break
			}
			if time.Now().After(deadline) {
				n.Close()
				t.Fatalf("the cluster node %s is not ok: %v\n%s", addr, err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.Close()
	}
	return c
}

// Env returns the variables that point pytwask at the cluster.
func (c *Cluster) Env() []string {
	return []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(c.Addrs[:3], ","), "REDIS_DB_PASSWORD=" + c.Password}
}

// replicasOnline counts the shards, as the node sees them, whose replica is
// in sync.
func replicasOnline(n *redis.Client) int {
	shards, err := n.ClusterShards(context.Background()).Result()
	if err != nil {
		return 0
	}
	count := 0
	for _, sh := range shards {
		for _, node := range sh.Nodes {
			if node.Role == "replica" && node.Health == "online" {
				count++
				break
			}
		}
	}
	return count
}
