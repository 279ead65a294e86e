package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"pytwask/app/config"
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
	network, addr := cfg.RedisAddr()
	where := fmt.Sprintf("Redis at %s:%s, database %d", network, addr, *cfg.RedisDB)
	if cfg.InMemory {
		ok("no Redis is configured: dev serves an in-memory database (set REDIS_DB_SOCKET or REDIS_DB_HOSTNAME to use one)")
	} else {
		rdb := redisconn.Dial(network, addr, cfg.RedisPassword, *cfg.RedisDB)
		defer rdb.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			st := store.New(rdb, password.Hasher{Iterations: cfg.HashIterations}, nil) // reads the layout: nothing to log
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
