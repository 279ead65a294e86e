// Package redisconn opens the Redis connection that the configuration names
// (one server, the primary behind Redis Sentinel, or a Redis Cluster), or, in
// dev with no Redis configured, an in-process Redis.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"pytwask/app/config"
)

// Open returns a client and a function that closes it (and the in-process
// server, if any). It does not wait for Redis to answer: a site started while
// Redis is down serves 503 pages and recovers when Redis returns.
func Open(cfg *config.Config, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.RedisMode() == config.InMemory {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start in-memory redis: %w", err)
		}
		log.Warn("NO REDIS CONFIGURED: using an in-memory database; all data is lost when the process exits. " +
			"Set REDIS_DB_SOCKET or REDIS_DB_HOSTNAME (and PYTWASK_ENV=prod) to keep data.")
		rdb := redis.NewClient(Options("tcp", mr.Addr(), "", 0))
		return rdb, func() { rdb.Close(); mr.Close() }, nil
	}
	rdb, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return rdb, func() { rdb.Close() }, nil
}

// New returns a client of the Redis the configuration names: a single
// server, the primary that Sentinels name (found again after a failover), or
// a Cluster. It fails only on unreadable TLS files.
func New(cfg *config.Config) (redis.UniversalClient, error) {
	tlsConfig, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.RedisMode() {
	case config.Sentinel:
		opts := failFast(&redis.UniversalOptions{Password: cfg.RedisPassword, DB: *cfg.RedisDB, TLSConfig: tlsConfig}).Failover()
		opts.MasterName, opts.SentinelAddrs, opts.SentinelPassword = cfg.SentinelMaster, cfg.SentinelAddrs, cfg.SentinelPassword
		return redis.NewFailoverClient(opts), nil
	case config.Cluster:
		opts := failFast(&redis.UniversalOptions{Addrs: cfg.ClusterAddrs, Password: cfg.RedisPassword, TLSConfig: tlsConfig}).Cluster()
		// go-redis counts every further try of a command against
		// MaxRedirects: a MOVED or ASK (a slot moving while the site runs;
		// a moving slot needs two at most), and a command that found no
		// connection. Its default, 3, bounds both (a page's own wait is
		// bounded by web.PageBuild). A command whose node did not answer
		// in time it would send again too; the store marks its commands
		// not to be (app/store/sentonce.go).
		opts.MaxRedirects = 3
		return redis.NewClusterClient(opts), nil
	}
	if cfg.RedisURL.URL == nil {
		network, addr := cfg.RedisAddr()
		return redis.NewClient(Options(network, addr, cfg.RedisPassword, *cfg.RedisDB)), nil
	}
	u, err := redis.ParseURL(cfg.RedisURL.URL.String())
	if err != nil {
		return nil, errors.New("REDIS_URL does not parse") // the URL may hold a password: not in the error
	}
	opts := Options(u.Network, u.Addr, u.Password, u.DB)
	opts.Username = u.Username
	if opts.Password == "" {
		opts.Password = cfg.RedisPassword
	}
	if u.TLSConfig != nil {
		opts.TLSConfig = tlsConfig
		if opts.TLSConfig == nil {
			opts.TLSConfig = u.TLSConfig
		}
	}
	return redis.NewClient(opts), nil
}

// tlsConfig is the TLS that REDIS_TLS_* ask for, or nil.
func tlsConfig(cfg *config.Config) (*tls.Config, error) {
	if cfg.RedisTLSCAFile == "" && cfg.RedisTLSCertFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.RedisURL.URL != nil {
		c.ServerName = cfg.RedisURL.Hostname()
	}
	if cfg.RedisTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.RedisTLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE: no PEM certificate in %s", cfg.RedisTLSCAFile)
		}
	}
	if cfg.RedisTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RedisTLSCertFile, cfg.RedisTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Options are the client settings pytwask uses for one server, tests
// included.
func Options(network, addr, password string, db int) *redis.Options {
	opts := failFast(&redis.UniversalOptions{Password: password, DB: db}).Simple()
	opts.Network, opts.Addr = network, addr
	return opts
}

// failFast sets what every client of pytwask's has, whatever the mode.
func failFast(o *redis.UniversalOptions) *redis.UniversalOptions {
	// Fail fast: during an outage a page should answer 503 at once rather
	// than hang, and a healthy Redis answers in well under a millisecond.
	// go-redis would otherwise retry a failed dial five times, 100 ms apart.
	o.DialTimeout = time.Second
	o.DialerRetries = 1
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	// No retries: go-redis sends a command again when its reply came too
	// late, but Redis ran it, and a post script run twice posts the tweet
	// twice. A connection Redis closed while idle (a restart) is found by
	// the pool's health check before use, and a failed request is a 503
	// that the next one recovers from. (A Cluster client tries again
	// whatever this says, up to MaxRedirects: app/store/sentonce.go.)
	o.MaxRetries = -1
	// A caller's deadline (a page's, web.PageBuild) ends a command
	// waiting for its reply, not only the wait between tries.
	o.ContextTimeoutEnabled = true
	// CLIENT SETINFO is not understood by older servers or the in-process
	// one, and identifies nothing useful here.
	o.DisableIdentity = true
	return o
}

// Dial returns a client with pytwask's settings on the given server.
func Dial(network, addr, password string, db int) *redis.Client {
	return redis.NewClient(Options(network, addr, password, db))
}

// quietLogger sends go-redis's own messages (such as "failed to dial") to
// slog at debug level: callers already report the errors that matter, and
// the library would otherwise print to stderr past any log format.
type quietLogger struct{ log *slog.Logger }

func (q quietLogger) Printf(ctx context.Context, format string, v ...any) {
	q.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// RouteLibraryLog makes go-redis log through log. go-redis keeps its logger
// in a package variable, so this is called once, from main's path.
func RouteLibraryLog(log *slog.Logger) { redis.SetLogger(quietLogger{log}) }
