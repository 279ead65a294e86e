// Package redisconn opens the Redis connection that the configuration names,
// or, in dev with no Redis configured, an in-process Redis.
package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"pytwask/app/config"
)

// Open returns a client and a function that closes it (and the in-process
// server, if any). It does not wait for Redis to answer: a site started while
// Redis is down serves 503 pages and recovers when Redis returns.
func Open(cfg *config.Config, log *slog.Logger) (*redis.Client, func(), error) {
	network, addr := cfg.RedisAddr()
	opts := Options(network, addr, cfg.RedisPassword, *cfg.RedisDB)
	closeAll := func() {}
	if cfg.InMemory {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start in-memory redis: %w", err)
		}
		log.Warn("NO REDIS CONFIGURED: using an in-memory database; all data is lost when the process exits. " +
			"Set REDIS_DB_SOCKET or REDIS_DB_HOSTNAME (and PYTWASK_ENV=prod) to keep data.")
		opts.Network, opts.Addr, opts.DB = "tcp", mr.Addr(), 0
		closeAll = mr.Close
	}
	rdb := redis.NewClient(opts)
	return rdb, func() { rdb.Close(); closeAll() }, nil
}

// Options are the client settings pytwask uses everywhere, tests included.
func Options(network, addr, password string, db int) *redis.Options {
	return &redis.Options{
		Network:  network,
		Addr:     addr,
		Password: password,
		DB:       db,
		// Fail fast: during an outage a page should answer 503 at once rather
		// than hang, and a healthy Redis answers in well under a millisecond.
		// go-redis would otherwise retry a failed dial five times, 100 ms apart.
		DialTimeout:   time.Second,
		DialerRetries: 1,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
		// No retries: go-redis sends a command again when its reply came too
		// late, but Redis ran it, and a post script run twice posts the tweet
		// twice. A connection Redis closed while idle (a restart) is found by
		// the pool's health check before use, and a failed request is a 503
		// that the next one recovers from.
		MaxRetries: -1,
		// CLIENT SETINFO is not understood by older servers or the in-process
		// one, and identifies nothing useful here.
		DisableIdentity: true,
	}
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
