package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the Sentinels of StartSentinels know the
// primary by.
const SentinelMaster = "pytwask"

// Sentinels is a primary, a replica of it and three Sentinels watching them,
// all redis-server processes on loopback TCP, owned by one test.
type Sentinels struct {
	t        testing.TB
	dir      string
	Password string // the data nodes' (requirepass and masterauth)
	Primary  string // host:port the primary was started on
	Replica  string
	Addrs    []string // the Sentinels
	procs    map[string]*exec.Cmd
	tls      *tlsFiles // data nodes that speak only TLS, if set
}

// StartSentinels starts the set and waits until every Sentinel knows the
// primary, its replica and the other Sentinels, so that a failover can
// happen. It needs redis-server and redis-sentinel: without them the test
// is skipped, or fails in strict mode.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	return startSentinels(t, false)
}

// StartSentinelsTLS is StartSentinels with every process speaking only
// TLS: the data nodes to clients and to one another, the Sentinels to
// clients and to the data nodes. TLSCAFile is the CA a client trusts.
func StartSentinelsTLS(t testing.TB) *Sentinels {
	t.Helper()
	return startSentinels(t, true)
}

func startSentinels(t testing.TB, useTLS bool) *Sentinels {
	t.Helper()
	needTools(t, "redis-server redis-sentinel", "redis-server", "redis-sentinel")
	s := &Sentinels{t: t, dir: t.TempDir(), Password: randomHex(16), procs: map[string]*exec.Cmd{}}
	t.Cleanup(s.stopAll)
	if useTLS {
		s.tls = newTLSFiles(t, s.dir)
	}
	s.Primary, s.Replica = "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	s.startServer(s.Primary)
	s.startServer(s.Replica, "--replicaof", "127.0.0.1", port(s.Primary))
	for i := range 3 {
		addr := "127.0.0.1:" + freePort(t)
		conf := filepath.Join(s.dir, fmt.Sprintf("sentinel%d.conf", i))
		// Quick to act, as a test needs: a primary that does not answer for
		// 1 s is down, and a failover that stalls is tried again after 5 s.
		text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %[4]s 127.0.0.1 %[5]s 2\nsentinel auth-pass %[4]s %[6]s\n"+
			"sentinel down-after-milliseconds %[4]s 1000\nsentinel failover-timeout %[4]s 5000\n",
			port(addr), s.dir, filepath.Join(s.dir, fmt.Sprintf("sentinel%d.log", i)), SentinelMaster, port(s.Primary), s.Password)
		if s.tls != nil {
			text = strings.Replace(text, "port "+port(addr)+"\n", "port 0\ntls-port "+port(addr)+"\n", 1)
			args := s.tls.serverArgs()
			for j := 0; j+1 < len(args); j += 2 {
				text += strings.TrimPrefix(args[j], "--") + " " + args[j+1] + "\n"
			}
		}
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s.run(addr, "redis-sentinel", conf)
		s.Addrs = append(s.Addrs, addr)
	}
	s.waitReady()
	return s
}

// startServer runs a data node on addr.
func (s *Sentinels) startServer(addr string, args ...string) {
	s.run(addr, "redis-server", s.serverArgs(addr, args...)...)
}

// serverArgs are redis-server's arguments for a data node on addr.
func (s *Sentinels) serverArgs(addr string, args ...string) []string {
	dir := filepath.Join(s.dir, port(addr))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	ports := []string{"--port", port(addr)}
	if s.tls != nil {
		ports = append([]string{"--port", "0", "--tls-port", port(addr)}, s.tls.serverArgs()...)
	}
	return append(append(ports, "--bind", "127.0.0.1",
		"--requirepass", s.Password, "--masterauth", s.Password,
		"--dir", dir, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0",
		"--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log")), args...)
}

func (s *Sentinels) run(addr, name string, args ...string) {
	if err := s.start(addr, 10*time.Second, name, args...); err != nil {
		s.t.Fatal(err)
	}
}

// start runs the program, known by addr, and waits until it listens
// there. If it does not within wait, it is stopped and the error says so.
func (s *Sentinels) start(addr string, wait time.Duration, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs[addr] = cmd
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill(addr)
			return fmt.Errorf("%s did not listen on %s: %w", name, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReady waits until the replica is in sync, and each Sentinel sees the
// primary, the replica and two other Sentinels.
func (s *Sentinels) waitReady() {
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	s.WaitInSync(s.Replica, deadline)
	for _, addr := range s.Addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, TLSConfig: s.tlsConfig(), DisableIdentity: true})
		for {
			replicas, err1 := sc.Replicas(ctx, SentinelMaster).Result()
			others, err2 := sc.Sentinels(ctx, SentinelMaster).Result()
			if err1 == nil && err2 == nil && len(replicas) == 1 && len(others) == 2 {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				s.t.Fatalf("the Sentinel at %s sees %d replicas and %d Sentinels (%v, %v)", addr, len(replicas), len(others), err1, err2)
			}
			time.Sleep(200 * time.Millisecond)
		}
		sc.Close()
	}
}

// WaitInSync waits until the replica on addr has a link up with its
// primary, which it has once it has loaded the primary's data.
func (s *Sentinels) WaitInSync(addr string, deadline time.Time) {
	r := s.NodeClient(addr)
	defer r.Close()
	for {
		info, err := r.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the replica on %s is not in sync: %v\n%s", addr, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the data node or Sentinel on addr (SIGKILL).
func (s *Sentinels) Kill(addr string) {
	if cmd := s.procs[addr]; cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		delete(s.procs, addr)
	}
}

// Failover has the Sentinels fail over now, as an operator does before
// maintenance of the primary's host: the primary is demoted to a replica
// of the promoted one while its clients are still connected to it.
func (s *Sentinels) Failover() {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addrs[0], TLSConfig: s.tlsConfig(), DisableIdentity: true})
	defer sc.Close()
	if err := sc.Failover(context.Background(), SentinelMaster).Err(); err != nil {
		s.t.Fatal(err)
	}
}

// RestartAsReplica starts the data node on addr again, empty (nothing is
// kept on disk), as a replica of primary: how a failed primary returns
// once the Sentinels have moved on. Started empty as a primary instead, it
// can be taken for the primary by a Sentinel that has not yet heard of the
// failover, and the promoted replica then copies its emptiness: the data
// loss Redis's replication guide warns of for primaries without
// persistence that restart by themselves.
func (s *Sentinels) RestartAsReplica(addr, primary string) {
	s.startServer(addr, "--replicaof", "127.0.0.1", port(primary))
}

// CurrentPrimary is the primary's address as the first Sentinel that
// answers names it.
func (s *Sentinels) CurrentPrimary() string {
	for _, addr := range s.Addrs {
		if p := s.primaryAsSeenBy(addr); p != "" {
			return p
		}
	}
	return ""
}

// WaitAgreed waits until every Sentinel names the same primary, and
// returns it.
func (s *Sentinels) WaitAgreed(deadline time.Time) string {
	for {
		seen := map[string]bool{}
		for _, addr := range s.Addrs {
			seen[s.primaryAsSeenBy(addr)] = true
		}
		if len(seen) == 1 && !seen[""] {
			for p := range seen {
				return p
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the Sentinels do not agree on the primary: %v", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Sentinels) primaryAsSeenBy(sentinel string) string {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, TLSConfig: s.tlsConfig(), DisableIdentity: true, MaxRetries: -1})
	defer sc.Close()
	m, err := sc.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
	if err != nil {
		return ""
	}
	return net.JoinHostPort(m[0], m[1])
}

// Client returns a client of the current primary, found through the
// Sentinels, with pytwask's settings; the caller closes it.
func (s *Sentinels) Client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: SentinelMaster, SentinelAddrs: s.Addrs, Password: s.Password, DB: DB, TLSConfig: s.tlsConfig(),
		DialTimeout: time.Second, MaxRetries: -1, DisableIdentity: true,
	})
}

// NodeClient returns a client of the data node on addr; the caller closes it.
func (s *Sentinels) NodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: s.Password, DB: DB, TLSConfig: s.tlsConfig(), MaxRetries: -1,
		DisableIdentity: true})
}

// Env returns the variables that point pytwask at the set.
func (s *Sentinels) Env() []string {
	env := []string{
		"REDIS_SENTINEL_ADDRS=" + s.Addrs[0] + "," + s.Addrs[1] + "," + s.Addrs[2],
		"REDIS_SENTINEL_MASTER=" + SentinelMaster,
		"REDIS_DB_PASSWORD=" + s.Password,
		"REDIS_DB_INDEX=" + strconv.Itoa(DB),
	}
	if s.tls != nil {
		env = append(env, "REDIS_TLS_CA_FILE="+s.tls.CAFile)
	}
	return env
}

func (s *Sentinels) stopAll() {
	for addr := range s.procs {
		s.Kill(addr)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln.Addr().String())
}

// Pause stops the data node on addr (SIGSTOP) until Resume: it takes
// connections (the kernel does) and answers nothing, as a node that hangs
// or whose host drops packets.
func (s *Sentinels) Pause(addr string) { s.signal(addr, syscall.SIGSTOP) }

// Resume lets the node on addr paused by Pause go on (SIGCONT).
func (s *Sentinels) Resume(addr string) { s.signal(addr, syscall.SIGCONT) }

func (s *Sentinels) signal(addr string, sig os.Signal) {
	if cmd := s.procs[addr]; cmd != nil {
		if err := cmd.Process.Signal(sig); err != nil {
			s.t.Fatal(err)
		}
	}
}
