// Package serve runs the site: it opens Redis, builds the handler, listens,
// and shuts down gracefully on SIGTERM or SIGINT.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"pytwask/app/auth"
	"pytwask/app/config"
	"pytwask/app/redisconn"
	"pytwask/app/store"
	"pytwask/app/web"
	"pytwask/assets"
)

// ShutdownGrace bounds how long in-flight requests may take to finish.
const ShutdownGrace = 10 * time.Second

// Run serves until ctx is cancelled, then lets in-flight requests finish.
// ready, if not nil, is called with the listening address once it accepts.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(addr net.Addr)) error {
	rdb, closeRedis, err := redisconn.Open(cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	st := store.New(rdb, auth.Hasher{Iterations: cfg.HashIterations})

	sessionKeys := func(ctx context.Context) ([]string, error) { return st.SessionKeys(ctx) }
	if len(cfg.SecretKeys) > 0 {
		sessionKeys = func(context.Context) ([]string, error) { return cfg.SecretKeys, nil }
	} else {
		log.Info("PYTWASK_SECRET_KEY is not set: session cookies are signed with a key generated once and kept in Redis, shared by every instance")
	}
	site, err := web.New(web.Options{
		Store:       st,
		Assets:      assets.FS,
		SessionKeys: sessionKeys,
		Logger:      log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (PYTWASK_LISTEN): %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           site,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	network, addr := cfg.RedisAddr()
	if cfg.InMemory {
		network, addr = "memory", "in-process"
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := st.Ping(pingCtx); err != nil {
		log.Error("Redis is not answering; pages answer 503 until it does", "redis", network+":"+addr, "err", err)
	}
	cancel()
	log.Info("serving pytwask", "url", "http://"+ln.Addr().String()+"/", "env", cfg.Env, "redis", network+":"+addr, "db", *cfg.RedisDB)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "grace", ShutdownGrace)
	shutCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
