// Package redistest starts a private redis-server for a test: on a temporary
// unix socket, with its own password and a non-zero database index, the way
// production uses REDIS_DB_SOCKET, REDIS_DB_PASSWORD and REDIS_DB_INDEX. It
// never talks to a server that someone else started.
//
// Outside CI, when redis-server is not installed, an in-process Redis stands
// in. With CI=true a missing redis-server fails the test instead.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	miniserver "github.com/alicebob/miniredis/v2/server"
	"github.com/redis/go-redis/v9"

	"pytwask/app/redisconn"
)

// DB is the database index every test server is used with.
const DB = 3

// Server is a redis-server owned by one test.
type Server struct {
	t        testing.TB
	Network  string // "unix", or "tcp" for the in-process stand-in
	Addr     string // socket path or host:port
	Password string
	DB       int

	dir     string
	persist bool
	args    []string // more redis-server arguments
	cmd     *exec.Cmd
	mini    *miniredis.Miniredis
}

// Strict reports whether a missing tool must fail the test rather than skip it
// or use a stand-in: in CI, or when PYTWASK_STRICT_TESTS is set.
func Strict() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PYTWASK_STRICT_TESTS") != ""
}

// needTools skips t in the fast tier (-short) and where one of the tools
// is not installed, or fails it there in strict mode; install names the
// Debian packages that have them.
func needTools(t testing.TB, install string, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: this test needs %s (the full tier runs it)", strings.Join(tools, " and "))
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if Strict() {
				t.Fatalf("%s is not installed (required in CI): %v", tool, err)
			}
			t.Skipf("%s is not installed (apt-get install %s)", tool, install)
		}
	}
}

// Start starts a server for t and stops it when t ends. It keeps nothing on
// disk: after Stop, Restart brings back an empty database. args are added to
// redis-server's command line; a test that gives any is skipped where the
// in-process stand-in would run instead, which can't honour them.
func Start(t testing.TB, args ...string) *Server { t.Helper(); return start(t, false, args) }

// StartPersistent starts a server that writes every change to an append-only
// file, fsynced before it answers, so that a write acknowledged by Redis
// survives Kill and Restart.
func StartPersistent(t testing.TB) *Server { t.Helper(); return start(t, true, nil) }

func start(t testing.TB, persist bool, args []string) *Server {
	t.Helper()
	s := &Server{t: t, Password: randomHex(16), DB: DB, persist: persist, args: args}
	if testing.Short() {
		// The fast tier runs no external tool.
		if persist || len(args) > 0 {
			t.Skip("-short: this test needs redis-server itself (the full tier runs it)")
		}
		s.startMini("-short: using the in-process Redis")
		return s
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if Strict() {
			t.Fatalf("redis-server is not installed (required in CI): %v", err)
		}
		if persist {
			t.Skip("redis-server is not installed (apt-get install redis-server), and the in-process Redis keeps nothing across a kill")
		}
		if len(args) > 0 {
			t.Skipf("redis-server is not installed, and the in-process Redis can't take %q", args)
		}
		s.startMini("redis-server not installed: using the in-process Redis")
		return s
	}
	// Unix socket paths are limited to about 100 bytes, and t.TempDir's paths
	// carry the test's name, so the socket gets a short directory of its own.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir, s.Network, s.Addr = dir, "unix", filepath.Join(dir, "redis.sock")
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// infoSections answers INFO for the sections pytwask reads that the
// in-process Redis lacks (store.RedisVersion, store.RefusesWrites), as the
// Redis it stands in for: a 7.0 primary without a maxmemory. Other INFO
// requests and other commands go on to it.
func infoSections(c *miniserver.Peer, cmd string, args ...string) bool {
	if cmd != "INFO" || len(args) == 0 {
		return false
	}
	sections := map[string]string{
		"server":      "# Server\r\nredis_version:7.0.15\r\n",
		"replication": "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n",
		"memory":      "# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n",
	}
	var text string
	for _, a := range args {
		section, ok := sections[strings.ToLower(a)]
		if !ok {
			return false
		}
		text += section
	}
	c.WriteBulk(text)
	return true
}

// startMini starts the in-process Redis, saying why.
func (s *Server) startMini(why string) {
	m := miniredis.NewMiniRedis()
	m.RequireAuth(s.Password)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		s.t.Fatal(err)
	}
	m.Server().SetPreHook(infoSections)
	s.t.Log(why)
	s.mini, s.Network, s.Addr = m, "tcp", m.Addr()
	// Its keys expire only when told that time passed: tell it, as it does.
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	s.t.Cleanup(func() { close(stop); m.Close() })
}

// InProcess reports whether the server is the in-process stand-in, which
// lacks some of Redis's introspection (INFO commandstats).
func (s *Server) InProcess() bool { return s.mini != nil }

// Restart starts the server again after Stop, on the same socket and
// password: with an empty database, or for a persistent server with what its
// append-only file holds.
func (s *Server) Restart() {
	s.t.Helper()
	if s.mini != nil {
		if err := s.mini.Restart(); err != nil {
			s.t.Fatal(err)
		}
		s.mini.FlushAll() // as redis-server, which keeps nothing on disk here
		return
	}
	appendonly := []string{"--appendonly", "no"}
	if s.persist {
		appendonly = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command("redis-server", append([]string{
		"--port", "0",
		"--unixsocket", s.Addr,
		"--unixsocketperm", "700",
		"--requirepass", s.Password,
		"--dir", s.dir,
		"--save", "",
		"--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, slices.Concat(appendonly, s.args)...)...)
	// The server dies with the test process, even one that is killed or
	// never runs its cleanups (a fuzz worker).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	rdb := s.Client()
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Dialled by hand until the socket answers: go-redis logs every
		// failed dial, which filled test output with noise.
		err := s.dial()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = rdb.Ping(ctx).Err()
			cancel()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server did not answer on %s: %v\n%s", s.Addr, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial reports whether the server accepts connections.
func (s *Server) dial() error {
	c, err := net.DialTimeout(s.Network, s.Addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// Stop kills the server (SIGKILL: no chance to save anything); Restart
// brings it back.
func (s *Server) Stop() {
	if s.mini != nil {
		s.mini.Close()
		return
	}
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	_ = os.Remove(s.Addr)
}

// BlockSaving makes the server fail to save its snapshot (a directory is
// where the file goes) while it is told to save: it then refuses writes,
// and PING, with MISCONF, as a server whose disk is full does. AllowSaving
// gives it back its writes.
func (s *Server) BlockSaving() {
	s.t.Helper()
	if s.mini != nil {
		s.t.Fatal("the in-process Redis does not save")
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "dump.rdb", "in-the-way"), 0o700); err != nil {
		s.t.Fatal(err)
	}
	rdb := s.Client()
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "save", "3600 1").Err(); err != nil {
		s.t.Fatal(err)
	}
	if err := rdb.BgSave(ctx).Err(); err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(rdb.Info(ctx, "persistence").Val(), "rdb_last_bgsave_status:err"); {
		if time.Now().After(deadline) {
			s.t.Fatal("the snapshot did not fail")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AllowSaving undoes BlockSaving: the server is no longer told to save.
func (s *Server) AllowSaving() {
	s.t.Helper()
	rdb := s.Client()
	defer rdb.Close()
	if err := rdb.ConfigSet(context.Background(), "save", "").Err(); err != nil {
		s.t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(s.dir, "dump.rdb"))
}

// Options returns the production client options for the server.
func (s *Server) Options() *redis.Options {
	return redisconn.Options(s.Network, s.Addr, s.Password, s.DB)
}

// Client returns a new client on the server; the caller closes it.
func (s *Server) Client() *redis.Client { return redis.NewClient(s.Options()) }

// Env returns the environment variables that point pytwask at the server.
func (s *Server) Env() []string {
	env := []string{"REDIS_DB_PASSWORD=" + s.Password, fmt.Sprintf("REDIS_DB_INDEX=%d", s.DB)}
	if s.Network == "unix" {
		return append(env, "REDIS_DB_SOCKET="+s.Addr)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	return append(env, "REDIS_DB_HOSTNAME="+host, "REDIS_DB_PORT="+port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
