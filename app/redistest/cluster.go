package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	args       map[string][]string // each node's redis-server arguments, for Restart
}

// StartCluster starts six cluster-enabled redis-server processes, joins them
// with redis-cli --cluster create, and waits until every node reports the
// cluster ok and its replication in place (ROLE: a primary with its replica
// in sync, or a replica connected to its primary). How the nodes see one
// another's replicas comes later, by gossip: WaitReplicasSeen waits for
// that. Without redis-server and redis-cli the test is skipped, or fails in
// strict mode.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t, false)
}

// StartClusterTLS is StartCluster with nodes that speak only TLS, to
// clients, to one another and to their replicas, as managed Clusters with
// encryption in transit do; TLSCAFile is the CA a client must trust.
func StartClusterTLS(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t, true)
}

func startCluster(t testing.TB, useTLS bool) *Cluster {
	t.Helper()
	needTools(t, "redis-server", "redis-server", "redis-cli")
	c := &Cluster{Sentinels: &Sentinels{t: t, dir: t.TempDir(), Password: randomHex(16), procs: map[string]*exec.Cmd{}},
		args: map[string][]string{}}
	t.Cleanup(c.stopAll)
	if useTLS {
		c.tls = newTLSFiles(t, c.dir)
	}
	for range 6 {
		c.Addrs = append(c.Addrs, c.startNode())
	}
	create := exec.Command("redis-cli", append(append(c.cliTLS("--cluster", "create"), c.Addrs...), "--cluster-replicas", "1", "--cluster-yes")...)
	create.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitNodes(func(n *redis.Client) (bool, string) {
		info, err := n.ClusterInfo(context.Background()).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false, fmt.Sprintf("cluster info: %v\n%s", err, info)
		}
		role, err := n.Do(context.Background(), "ROLE").Slice()
		return err == nil && replicating(role), fmt.Sprintf("role: %v %v", role, err)
	})
	return c
}

// startNode starts a cluster-enabled redis-server and returns its address.
// Its cluster bus port is chosen free too (by default it is the port plus
// 10,000, which another process may hold). redis-server binds the bus
// after its port, and exits if it cannot, so the node counts as started
// once it answers a PING. Ports are only free a moment ago: a node that
// does not start is tried again on others.
func (c *Cluster) startNode() string {
	c.t.Helper()
	var err error
	for range 3 {
		addr, bus := "127.0.0.1:"+freePort(c.t), freePort(c.t)
		args := c.serverArgs(addr, "--cluster-enabled", "yes", "--cluster-port", bus,
			"--cluster-config-file", filepath.Join(c.dir, port(addr), "nodes.conf"), "--cluster-node-timeout", "2000")
		if err = c.start(addr, 5*time.Second, "redis-server", args...); err == nil {
			if err = c.ping(addr, 5*time.Second); err == nil {
				c.args[addr] = args
				return addr
			}
			c.Kill(addr)
		}
		c.t.Logf("a cluster node did not start, trying other ports: %v", err)
	}
	c.t.Fatal(err)
	return ""
}

// ping waits until the node at addr answers a PING.
func (c *Cluster) ping(addr string, wait time.Duration) error {
	n := c.node(addr)
	defer n.Close()
	deadline := time.Now().Add(wait)
	for {
		err := n.Ping(context.Background()).Err()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitReplicasSeen waits until every node, by gossip, knows each of the
// three primaries' replica to be online, as CLUSTER SHARDS tells it (what
// pytwask check reads, from whichever node it asks).
func (c *Cluster) WaitReplicasSeen() {
	c.t.Helper()
	c.waitNodes(func(n *redis.Client) (bool, string) {
		online := replicasOnline(n)
		return online == 3, fmt.Sprintf("%d replicas seen online", online)
	})
}

// waitNodes waits, for up to 30 s in all, until ready holds on each node;
// ready returns whether it does and what it saw, for the failure.
func (c *Cluster) waitNodes(ready func(*redis.Client) (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		n := c.node(addr)
		for {
			ok, saw := ready(n)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				n.Close()
				c.t.Fatalf("the cluster node %s is not ready: %s", addr, saw)
			}
			time.Sleep(50 * time.Millisecond)
		}
		n.Close()
	}
}

// replicating tells, from a node's ROLE reply, whether its part in
// replication is in place: a primary with a replica in sync, or a replica
// connected to its primary.
func replicating(role []any) bool {
	if len(role) < 3 {
		return false
	}
	switch role[0] {
	case "master":
		replicas, _ := role[2].([]any)
		return len(replicas) == 1
	case "slave":
		return len(role) >= 4 && role[3] == "connected"
	}
	return false
}

// Env returns the variables that point pytwask at the cluster.
func (c *Cluster) Env() []string {
	env := []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(c.Addrs[:3], ","), "REDIS_DB_PASSWORD=" + c.Password}
	if c.tls != nil {
		env = append(env, "REDIS_TLS_CA_FILE="+c.tls.CAFile)
	}
	return env
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

// Client returns a client of the cluster with pytwask's settings; the
// caller closes it.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, Password: c.Password, TLSConfig: c.tlsConfig(),
		DialTimeout: time.Second, MaxRetries: -1, MaxRedirects: 8, DisableIdentity: true})
}

// StartSource starts a plain redis-server on loopback TCP, with the
// cluster's password, for a test to fill and Import; it returns its
// address and a client of its database 0.
func (c *Cluster) StartSource() (string, *redis.Client) {
	addr := "127.0.0.1:" + freePort(c.t)
	c.startServer(addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: c.Password, DisableIdentity: true, MaxRetries: -1})
	c.t.Cleanup(func() { rdb.Close() })
	return addr, rdb
}

// Import copies every key of the server at from (database 0) into the
// cluster, as an operator moves a database into a Cluster (docs/scaling.md):
// redis-cli --cluster import with --cluster-copy, which leaves the source
// as it was.
func (c *Cluster) Import(from string) {
	c.t.Helper()
	cmd := exec.Command("redis-cli", c.cliTLS("--cluster", "import", c.Addrs[0], "--cluster-from", from,
		"--cluster-from-pass", c.Password, "--cluster-copy")...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("redis-cli --cluster import: %v\n%s", err, out)
	}
}

// Reshard moves n slots from one primary to another while the cluster
// serves (redis-cli --cluster reshard), as an operator balancing it does.
func (c *Cluster) Reshard(n int) error {
	cc := c.Client()
	defer cc.Close()
	shards, err := cc.ClusterShards(context.Background()).Result()
	if err != nil {
		return err
	}
	var primaries []string
	for _, sh := range shards {
		for _, node := range sh.Nodes {
			if node.Role == "master" {
				primaries = append(primaries, node.ID)
			}
		}
	}
	if len(primaries) < 2 {
		return fmt.Errorf("%d primaries", len(primaries))
	}
	cmd := exec.Command("redis-cli", c.cliTLS("--cluster", "reshard", c.Addrs[0], "--cluster-from", primaries[0], "--cluster-to", primaries[1],
		"--cluster-slots", strconv.Itoa(n), "--cluster-yes")...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster reshard: %v\n%s", err, out)
	}
	return nil
}

// PrimaryFor is the address of the primary serving key's slot, as the
// first node that answers, other than those in skip, sees it.
func (c *Cluster) PrimaryFor(key string, skip ...string) (string, error) {
	var err error
	for _, addr := range c.Addrs {
		if slices.Contains(skip, addr) {
			continue
		}
		n := c.node(addr)
		var primary string
		primary, err = primaryFor(n, key)
		n.Close()
		if err == nil {
			return primary, nil
		}
	}
	return "", err
}

// primaryFor asks the node n which primary, online, serves key's slot.
func primaryFor(n *redis.Client, key string) (string, error) {
	ctx := context.Background()
	slot, err := n.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	shards, err := n.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		if !slices.ContainsFunc(sh.Slots, func(r redis.SlotRange) bool { return r.Start <= slot && slot <= r.End }) {
			continue
		}
		for _, node := range sh.Nodes {
			if node.Role == "master" && node.Health == "online" {
				return net.JoinHostPort(node.IP, strconv.FormatInt(node.Port, 10)), nil
			}
		}
	}
	return "", fmt.Errorf("no primary online serves slot %d", slot)
}

// Restart starts the node on addr again after Kill, empty (nothing is kept
// on disk) but for its cluster configuration: a primary that failed
// returns, and the cluster makes it a replica of the one promoted in its
// place.
func (c *Cluster) Restart(addr string) {
	c.t.Helper()
	c.run(addr, "redis-server", c.args[addr]...)
	if err := c.ping(addr, 5*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// RestartAll kills every node and starts it again from what it keeps on
// disk (its cluster configuration, and its snapshot if SAVE made one), as
// a Cluster restored from backups is, and waits until the cluster is whole.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for _, addr := range c.Addrs {
		c.Kill(addr)
	}
	for _, addr := range c.Addrs {
		c.Restart(addr)
	}
	c.waitNodes(func(n *redis.Client) (bool, string) {
		info, err := n.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok"), fmt.Sprintf("cluster info: %v\n%s", err, info)
	})
}

// Failover has the replica of the primary on addr take its place, as an
// operator does before maintenance of the primary's host (CLUSTER
// FAILOVER on the replica): the two swap roles once the replica has every
// write, while clients are still connected to the old primary.
func (c *Cluster) Failover(primary string) error {
	n := c.node(primary)
	defer n.Close()
	ctx := context.Background()
	id, err := n.ClusterMyID(ctx).Result()
	if err != nil {
		return err
	}
	shards, err := n.ClusterShards(ctx).Result()
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if !slices.ContainsFunc(sh.Nodes, func(node redis.Node) bool { return node.ID == id }) {
			continue
		}
		for _, node := range sh.Nodes {
			if node.Role == "replica" && node.Health == "online" {
				r := c.node(net.JoinHostPort(node.IP, strconv.FormatInt(node.Port, 10)))
				defer r.Close()
				return r.ClusterFailover(ctx).Err()
			}
		}
	}
	return fmt.Errorf("the primary on %s has no replica online", primary)
}

// node is a client of the one node on addr.
func (c *Cluster) node(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: c.Password, TLSConfig: c.tlsConfig(), DisableIdentity: true,
		MaxRetries: -1, DialTimeout: time.Second})
}
