package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"

	"pytwask/app/config"
	"pytwask/app/mail"
	"pytwask/app/password"
	"pytwask/app/redisconn"
	"pytwask/app/serve"
	"pytwask/app/store"
)

// Check is `pytwask check`: it reads the configuration exactly as the server
// does, prints every setting (secrets masked), and checks Redis, the listen
// addresses and the certificate directory. It prints one line per problem
// and returns 1 if there is any.
func Check(ctx context.Context, stdout io.Writer) int {
	cfg, err := config.Load()
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stdout, "PROBLEM:", line)
		}
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Settings:")
	for _, s := range cfg.Settings() {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Value)
	}
	tw.Flush()
	fmt.Fprintln(stdout)

	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ok := func(format string, args ...any) { fmt.Fprintf(stdout, "ok: "+format+"\n", args...) }

	// Redis.
	where := cfg.RedisWhere()
	if cfg.InMemory {
		ok("no Redis is configured: dev serves an in-memory database (set REDIS_DB_SOCKET or REDIS_DB_HOSTNAME to use one)")
	} else if rdb, err := redisconn.New(cfg); err != nil {
		problem("%v", err)
	} else {
		defer rdb.Close()
		ok("Redis mode: %s (%s)", cfg.RedisMode(), where)
		checkTopology(ctx, cfg, ok, problem)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		if store.WritesRefused(err) {
			// It answers reads: say why it refuses writes, and go on.
			problem("%s refuses writes: %v", where, err)
			err = nil
		}
		switch {
		case err == nil:
			st := store.New(rdb, password.Hasher{Iterations: cfg.HashIterations}, nil) // reads the layout: nothing to log
			if v, err := st.RedisVersion(ctx); err != nil {
				problem("%s: %v", where, err)
			} else {
				ok("%s runs Redis %s (%d.%d or newer needed)", where, v, store.MinRedisVersion[0], store.MinRedisVersion[1])
			}
			switch why, err := st.RefusesWrites(ctx); {
			case err != nil:
				problem("%s: %v", where, err)
			case why != "":
				problem("%s refuses writes: %s", where, why)
			}
			switch why, err := st.Evicts(ctx); {
			case err != nil:
				problem("%s: %v", where, err)
			case why != "":
				problem("%s would lose posts, accounts and sessions: %s; set maxmemory-policy noeviction", where, why)
			}
			layout, users, err := st.CheckLayout(ctx, 10_000)
			switch {
			case err != nil:
				problem("%s: %v", where, err)
			case len(layout) > 0:
				for _, l := range layout {
					problem("%s: %s", where, l)
				}
			default:
				ok("%s answers; the pytwis keys look right (%d users)", where, users)
				// Read only when the keys look right: it reads users too.
				switch indexed, last, err := st.SearchIndexed(ctx); {
				case err != nil:
					problem("%s: %v", where, err)
				case indexed >= last:
					ok("the search index has every tweet (%d)", last)
				default:
					ok("the search index is being built by a running pytwask: %d of %d tweets so far; searches find only those", indexed, last)
				}
			}
		default:
			problem("%s: %s", where, redisProblem(err))
		}
	}

	// Listen addresses (systemd-activated sockets are systemd's to check).
	if os.Getenv("LISTEN_FDS") == "" {
		addrs := cfg.Listen
		if len(cfg.Domains) > 0 {
			if !cfg.ListenSet {
				addrs = nil
			}
			addrs = append(addrs, cfg.HTTPSAddr)
			if cfg.HTTPAddr != "" {
				addrs = append(addrs, cfg.HTTPAddr)
			}
		}
		for _, a := range addrs {
			if msg := checkListen(a); msg != "" {
				problem("%s", msg)
			} else {
				ok("can listen on %s", a)
			}
		}
	}

	// Email.
	if cfg.SMTPHost != "" {
		where := net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort))
		mailCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := mail.New(cfg.Mail()).Check(mailCtx)
		cancel()
		if err != nil {
			problem("the SMTP server at %s (PYTWASK_SMTP_*): %v; address confirmations and reset links cannot be sent", where, err)
		} else {
			how := cfg.SMTPTLS
			if cfg.SMTPUser != "" {
				how += ", login accepted"
			}
			ok("the SMTP server at %s answers (%s)", where, how)
		}
	} else {
		ok("email is off (PYTWASK_SMTP_HOST not set): users who forget their password are sent to you; make links with resetlink in pytwask cli")
	}

	// Certificates.
	if len(cfg.Domains) > 0 {
		if msg := checkWritableDir(cfg.DataDir, true); msg != "" {
			problem("PYTWASK_DATA_DIR %s: %s (certificates and the ACME account are kept there)", cfg.DataDir, msg)
		} else {
			ok("the certificate directory %s is writable", cfg.DataDir)
		}
	}

	for _, p := range problems {
		fmt.Fprintln(stdout, "PROBLEM:", p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%d problem(s) found\n", len(problems))
		return 1
	}
	fmt.Fprintln(stdout, "no problems found")
	return 0
}

// checkTopology checks what Sentinel or Cluster mode depends on: the
// Sentinels answer and agree on a primary that has a replica; the
// cluster's slots are all served and each primary has a replica.
func checkTopology(ctx context.Context, cfg *config.Config, ok, problem func(string, ...any)) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch cfg.RedisMode() {
	case config.Sentinel:
		masters := map[string]bool{}
		for _, addr := range cfg.SentinelAddrs {
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: cfg.SentinelPassword, DialTimeout: time.Second, MaxRetries: -1, DisableIdentity: true})
			m, err := sc.GetMasterAddrByName(ctx, cfg.SentinelMaster).Result()
			if err != nil {
				problem("the Sentinel at %s: %s", addr, sentinelProblem(err, cfg.SentinelMaster))
				sc.Close()
				continue
			}
			primary := net.JoinHostPort(m[0], m[1])
			masters[primary] = true
			replicas, err := sc.Replicas(ctx, cfg.SentinelMaster).Result()
			sc.Close()
			up := 0
			for _, r := range replicas {
				if flags := r["flags"]; !strings.Contains(flags, "down") && !strings.Contains(flags, "disconnected") {
					up++
				}
			}
			switch {
			case err != nil:
				problem("the Sentinel at %s: list replicas: %v", addr, err)
			case up == 0:
				problem("the Sentinel at %s knows the primary %s of %q but no replica that is up: a failover has nowhere to go", addr, primary, cfg.SentinelMaster)
			default:
				ok("the Sentinel at %s names the primary %s of %q, with %d replica(s) up", addr, primary, cfg.SentinelMaster, up)
			}
		}
		if len(masters) > 1 {
			problem("the Sentinels disagree on the primary of %q: %s", cfg.SentinelMaster, strings.Join(slices.Sorted(maps.Keys(masters)), ", "))
		}
	case config.Cluster:
		rdb, err := redisconn.New(cfg)
		if err != nil {
			return // reported by the caller
		}
		defer rdb.Close()
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil {
			problem("the Redis Cluster at %s: %s", strings.Join(cfg.ClusterAddrs, ","), redisProblem(err))
			return
		}
		state, assigned := infoField(info, "cluster_state"), infoField(info, "cluster_slots_ok")
		if state != "ok" || assigned != "16384" {
			problem("the Redis Cluster is not ready: cluster_state %s, %s of 16384 slots served", state, assigned)
		} else {
			ok("the Redis Cluster serves all 16384 slots")
		}
		shards, err := rdb.ClusterShards(ctx).Result()
		if err != nil {
			problem("the Redis Cluster: list shards: %v", err)
			return
		}
		for _, sh := range shards {
			var primary string
			replicas := 0
			for _, n := range sh.Nodes {
				switch {
				case n.Role == "master":
					primary = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				case n.Health == "online":
					replicas++
				}
			}
			if replicas == 0 {
				problem("the Redis Cluster's primary %s has no replica online: if it fails, its slots are lost until it returns", primary)
			} else {
				ok("the Redis Cluster's primary %s has %d replica(s) online", primary, replicas)
			}
		}
	}
}

// infoField is one "name:value" line of an INFO-style reply.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// sentinelProblem says what a Sentinel's refusal means.
func sentinelProblem(err error, master string) string {
	if errors.Is(err, redis.Nil) {
		return fmt.Sprintf("it monitors no primary named %q (REDIS_SENTINEL_MASTER)", master)
	}
	return redisProblem(err)
}

// redisProblem says in words what went wrong talking to Redis.
func redisProblem(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return "authentication failed: check REDIS_DB_PASSWORD"
	case strings.Contains(msg, "NOAUTH"):
		return "the server requires a password: set REDIS_DB_PASSWORD"
	case strings.Contains(msg, "DB index is out of range"):
		return "no such database: check REDIS_DB_INDEX"
	case strings.Contains(msg, "AUTH") && strings.Contains(msg, "without any password configured"):
		return "the server has no password, but REDIS_DB_PASSWORD is set"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) || strings.Contains(msg, "connect:") {
		return "unreachable: " + msg
	}
	return msg
}

// checkListen says what stops the server from listening on addr, or "".
func checkListen(a string) string {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		dir := filepath.Dir(path)
		if msg := checkWritableDir(dir, false); msg != "" {
			return fmt.Sprintf("PYTWASK_LISTEN %s: the directory %s %s", a, dir, msg)
		}
		if _, err := serve.CheckSocketPath(path); err != nil {
			return fmt.Sprintf("PYTWASK_LISTEN %s: %v", a, err) // the server's own rule
		}
		return ""
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return fmt.Sprintf("cannot listen on %s: %v", a, err)
	}
	ln.Close()
	return ""
}

// checkWritableDir says why files cannot be made in dir, or "". With
// mayCreate, a missing dir is fine if its parent is writable (the server
// creates the certificate directory, but not a socket's directory).
func checkWritableDir(dir string, mayCreate bool) string {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if !mayCreate {
			return "does not exist"
		}
		parent := filepath.Dir(dir)
		if unix.Access(parent, unix.W_OK) != nil {
			return "does not exist, and " + parent + " is not writable"
		}
		return ""
	}
	if err != nil {
		return err.Error()
	}
	if !fi.IsDir() {
		return "is not a directory"
	}
	if unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
		return "is not writable"
	}
	return ""
}
