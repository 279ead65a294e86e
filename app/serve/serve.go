// Package serve runs the site: it opens Redis, builds the handler, chooses
// and opens the listeners (TCP, unix sockets, systemd-activated sockets, HTTPS
// with automatic certificates), tells systemd when it is ready, and shuts down
// gracefully on SIGTERM or SIGINT.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"pytwask/app/buildinfo"
	"pytwask/app/config"
	"pytwask/app/live"
	"pytwask/app/mail"
	"pytwask/app/metrics"
	"pytwask/app/password"
	"pytwask/app/redisconn"
	"pytwask/app/store"
	"pytwask/app/web"
	"pytwask/assets"
)

// DrainTime bounds how long a stopping process waits for its clients to
// take their kept-alive connections elsewhere (drainer).
const DrainTime = 500 * time.Millisecond

// ShutdownGrace bounds how long in-flight requests may take to finish.
const ShutdownGrace = 10 * time.Second

// MaxFormBytes bounds a form body; larger ones get a 413 page.
const MaxFormBytes = 64 << 10

// Run serves until ctx is cancelled, then lets in-flight requests finish and
// closes Redis. ready, if not nil, is called with the listening addresses
// once they accept connections.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func([]net.Addr)) error {
	files := activation.Files(true)
	sockets, activated, err := fromSystemd(files)
	if err != nil {
		return err
	}
	defer closeAll(activated)
	specs, err := Plan(cfg, sockets)
	if err != nil {
		return err
	}

	rdb, closeRedisNow, err := redisconn.Open(cfg, log)
	if err != nil {
		return err
	}
	// Closed once: at the end of a shutdown, or on an early return.
	closeRedis := sync.OnceFunc(closeRedisNow)
	defer closeRedis()
	m := metrics.New()
	rdb.AddHook(m.RedisHook())
	st := store.New(rdb, password.Hasher{Iterations: cfg.HashIterations}, log)
	st.SetDurability(store.Durability{Replicas: cfg.WaitReplicas, Timeout: cfg.WaitTimeout})
	m.Gauge("pytwask_password_checks_waiting", "Password checks waiting for a slot (sign-ins, sign-ups, password changes).",
		func() float64 { return float64(st.PasswordChecksWaiting()) })
	fanOutMetrics(m, st)
	hub := live.NewHub(rdb, log, live.Limits{PerClient: cfg.StreamsPerClient, PerUser: cfg.StreamsPerUser})
	m.Gauge("pytwask_live_streams", "Live-update streams open on this instance.", func() float64 { return float64(hub.Open()) })

	trust := proxyTrust{nets: cfg.TrustedProxies.List}
	sessionKeys := func(ctx context.Context) ([]string, error) { return st.SessionKeys(ctx) }
	if len(cfg.SecretKeys) > 0 {
		sessionKeys = func(context.Context) ([]string, error) { return cfg.SecretKeys, nil }
	} else {
		log.Info("PYTWASK_SECRET_KEY is not set: cookies are signed with a key generated once and kept in Redis (pytwask:session_keys), shared by every instance")
	}
	var mailer web.Mailer // none unless configured: a nil *mail.Sender would not be a nil Mailer
	if cfg.SMTPHost != "" {
		mailer = mail.New(cfg.Mail())
	}
	baseURL := cfg.BaseURL
	if baseURL == "" && len(cfg.Domains) > 0 {
		baseURL = "https://" + cfg.Domains[0]
	}
	site, err := web.New(web.Options{
		Store:        st,
		Assets:       assets.FS,
		SessionKeys:  sessionKeys,
		Logger:       log,
		ClientAddr:   trust.ClientAddr,
		IsHTTPS:      trust.IsHTTPS,
		MaxFormBytes: MaxFormBytes,
		Limits:       limits(cfg),
		SessionIdle:  cfg.SessionIdle,
		SessionMax:   cfg.SessionMax,
		EditWindow:   cfg.EditWindow,
		NameHold:     cfg.NameHold,
		Mailer:       mailer,
		BaseURL:      baseURL,
		PageSlots:    cfg.PageSlots,
		Metrics:      m,
		Hub:          hub,
	})
	if err != nil {
		return err
	}
	m.Gauge("pytwask_pages_waiting", "Timeline pages waiting for a page slot.", func() float64 { return float64(site.PagesWaiting()) })

	listeners, err := openListeners(cfg, specs, activated)
	if err != nil {
		return err
	}
	handlers := make([]http.Handler, len(specs))
	var certs *certManager
	if len(cfg.Domains) > 0 {
		var at challengeAddrs
		for i, s := range specs {
			switch s.Role {
			case RoleHTTPS:
				at.https = listeners[i].Addr()
			case RoleRedirect:
				at.http = listeners[i].Addr()
			}
		}
		if certs, err = newCertManager(cfg, log, at); err != nil {
			closeAll(listeners)
			return err
		}
		defer certs.cache.Stop()
		if err := certs.manage(ctx, cfg.Domains); err != nil {
			closeAll(listeners)
			return err
		}
	}
	for i, s := range specs {
		switch s.Role {
		case RoleSite, RoleHTTPS:
			handlers[i] = site
		case RoleRedirect:
			handlers[i] = certs.redirectHandler(cfg.Domains, listenerAddr(specs, listeners, RoleHTTPS))
		}
	}

	// A Redis too old for pytwask's commands stops the start, with why,
	// rather than failing on every page.
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	redisVersion := ""
	redisLater := false // Redis did not answer: its version is read when it does
	if err := st.Ping(pingCtx); store.AccessRefused(err) {
		log.Error("Redis refuses pytwask's password or user: check REDIS_DB_PASSWORD (or REDIS_URL); pages answer 503 until it takes them",
			"redis", cfg.RedisWhere(), "err", err)
		redisLater = true
	} else if err != nil {
		log.Error("Redis is not answering; pages answer 503 until it does", "redis", cfg.RedisWhere(), "err", err)
		redisLater = true
	} else if !cfg.InMemory { // the in-memory stand-in has no version to tell
		var old *store.OldRedisError
		redisVersion, err = st.RedisVersion(pingCtx)
		switch {
		case errors.As(err, &old):
			cancel()
			closeAll(listeners)
			return fmt.Errorf("%s: %w", cfg.RedisWhere(), err)
		case err != nil:
			log.Warn("could not read the Redis version", "redis", cfg.RedisWhere(), "err", err)
		}
		if why, err := st.Evicts(pingCtx); why != "" {
			log.Error("Redis would lose posts, accounts and sessions to make room: set its maxmemory-policy to noeviction",
				"redis", cfg.RedisWhere(), "why", why)
		} else if err != nil {
			log.Warn("could not read Redis's eviction policy", "redis", cfg.RedisWhere(), "err", err)
		}
	}
	cancel()

	if cfg.DebugAddr != "" {
		ln, err := listenDebug(cfg)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("listen on %s (PYTWASK_DEBUG_ADDR): %w", cfg.DebugAddr, err)
		}
		specs = append(specs, Spec{Role: roleDebug, Network: ln.Addr().Network(), Addr: ln.Addr().String(), Activated: -1})
		listeners = append(listeners, ln)
		handlers = append(handlers, debugHandler(st.RoundTrips, m.Handler()))
	}
	drain := &drainer{}
	servers := make([]*http.Server, len(specs))
	errc := make(chan error, len(specs))
	addrs := make([]net.Addr, len(specs))
	var where []string
	for i, s := range specs {
		h := handlers[i]
		if s.Role != roleDebug {
			limited := limitConns(listeners[i], cfg.MaxConns, cfg.MaxConnsPerClient, log)
			listeners[i], h = limited, limited.limitRequests(h)
		}
		srv := newHTTPServer(drain.handler(h), log)
		srv.ConnState = drain.track
		serve := srv.Serve
		if s.Role == RoleHTTPS {
			// ServeTLS, not a tls.NewListener around Serve: it is what serves
			// HTTP/2 on the connections that negotiate it.
			srv.TLSConfig = certs.tlsConfig()
			serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
		}
		servers[i] = srv
		addrs[i] = listeners[i].Addr()
		where = append(where, fmt.Sprintf("%s %s", s.Role, describe(addrs[i])))
		log.Info("listening", "role", s.Role.String(), "addr", describe(addrs[i]), "systemd", s.Activated >= 0)
		go func(ln net.Listener) { errc <- serve(ln) }(listeners[i])
	}
	log.Info("pytwask is ready", "version", buildinfo.Version(), "env", cfg.Env, "redis", cfg.RedisWhere(), "redis_version", redisVersion, "page_slots", site.PageSlots())
	notify(log, daemon.SdNotifyReady)
	notify(log, "STATUS=serving "+strings.Join(where, ", "))
	if ready != nil {
		ready(addrs)
	}
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	go watchdog(wdCtx, log, st.Ping)
	if redisLater {
		// Started before Redis (at boot, say): a Redis too old for pytwask
		// stops it once it answers, as it would have stopped the start.
		go func() {
			if err := versionWhenAnswering(wdCtx, log, st, cfg.RedisWhere()); err != nil {
				select {
				case errc <- err:
				case <-wdCtx.Done():
				}
			}
		}()
	}

	// The fan-out workers stop with the servers; a job under way stops
	// between two of its steps and is taken up again by the next start
	// (same names) or by another instance.
	fanOutCtx, stopFanOut := context.WithCancel(context.Background())
	var fanOut sync.WaitGroup
	for i := range FanOutWorkers {
		name := fanOutName(specs, i)
		fanOut.Go(func() { st.RunFanOut(fanOutCtx, name) })
	}
	// The search index follows the tweets a moment after they are posted.
	fanOut.Go(func() { st.RunIndexer(fanOutCtx, SearchIndexIdle) })
	// Live events reach this instance's open pages (package live).
	fanOut.Go(func() { hub.Run(fanOutCtx) })
	// On an early return. A worker waiting for a job is blocked in Redis
	// for up to a second: closing the client ends that wait at once (a
	// worker in a step loses nothing: the job is taken up again).
	defer func() { stopFanOut(); closeRedis(); fanOut.Wait() }()

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	notify(log, daemon.SdNotifyStopping)
	notify(log, "STATUS=stopping: finishing in-flight requests")
	log.Info("shutting down: finishing in-flight requests", "grace", ShutdownGrace)
	stopFanOut() // in parallel with the drain; waited for on return
	// New connections now wait in the sockets' backlogs: for the next
	// process, when systemd holds the sockets. Clients on kept-alive
	// connections are told to close them with their next response, before
	// Shutdown closes what is left idle: a connection closed just as its
	// client sends a request on it fails that request.
	closeAll(listeners)
	// Live streams never end by themselves: they end now, and their pages
	// reconnect, to another instance or to the next process.
	hub.Close()
	drain.wait(DrainTime)
	shutCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("shutdown incomplete", "err", err)
			}
		}()
	}
	wg.Wait()
	site.WaitMail(shutCtx)
	log.Info("stopped")
	return serveErr
}

// versionWhenAnswering waits for Redis to answer, every second, then logs
// its version; it returns an *store.OldRedisError for one older than
// pytwask runs on, and nil once it logged the version or ctx ends.
func versionWhenAnswering(ctx context.Context, log *slog.Logger, st *store.Store, where string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v, err := st.RedisVersion(ctx)
		var old *store.OldRedisError
		switch {
		case errors.As(err, &old):
			log.Error("Redis answers, but is too old for pytwask: stopping", "redis", where, "err", err)
			return fmt.Errorf("%s: %w", where, err)
		case err == nil:
			log.Info("Redis answers", "redis", where, "redis_version", v)
			return nil
		}
	}
}

// fanOutMetrics reports the fan-out jobs: queued and in progress in Redis
// (all instances'), and done, taken over, timelines reached and the last
// job's lag in this process.
func fanOutMetrics(m *metrics.Metrics, st *store.Store) {
	// A count read from Redis at the scrape; -1 when Redis does not answer.
	fromRedis := func(count func(context.Context) (int64, error)) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := count(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}
	}
	m.Gauge("pytwask_fanout_jobs_queued", "Fan-out jobs in the stream, waiting or under way, of every instance.", fromRedis(st.FanOutQueued))
	m.Gauge("pytwask_fanout_jobs_in_progress", "Fan-out jobs a worker of any instance has taken and not finished.", fromRedis(st.FanOutInProgress))
	m.Counter("pytwask_fanout_jobs_done_total", "Fan-out jobs this process finished.", func() float64 { return float64(st.FanOutStats().Done) })
	m.Counter("pytwask_fanout_jobs_retried_total", "Fan-out jobs this process took over from a worker that went quiet.",
		func() float64 { return float64(st.FanOutStats().Retried) })
	m.Counter("pytwask_fanout_timelines_total", "Timelines the fan-out workers of this process pushed tweets onto.",
		func() float64 { return float64(st.FanOutStats().Followers) })
	m.Gauge("pytwask_fanout_lag_seconds", "From a post to the end of its fan-out, for the last job this process finished.",
		func() float64 { return st.FanOutStats().LastLag.Seconds() })
}

// FanOutWorkers is how many fan-out workers each process runs: enough that
// one post to very many followers does not hold up the next.
const FanOutWorkers = 4

// SearchIndexIdle is how often the search indexer looks for new tweets when
// it has caught up: how long a new tweet may take to be found by a search.
const SearchIndexIdle = 250 * time.Millisecond

// fanOutName names a fan-out worker after this host and the first
// listener, which a restart of the same service keeps, so that a restarted
// process takes up at once the jobs its predecessor had under way.
func fanOutName(specs []Spec, i int) string {
	host, _ := os.Hostname()
	where := ""
	if len(specs) > 0 {
		where = specs[0].Addr
	}
	return fmt.Sprintf("%s/%s/%d", host, where, i)
}

// limits reads the rate limits from the configuration (validated by Load).
func limits(cfg *config.Config) web.Limits {
	l := func(c config.Limit) store.Limit { return store.Limit{Max: c.Max, Window: c.Window} }
	return web.Limits{
		SignInPerClient:  l(cfg.SignInLimitClient),
		SignInPerUser:    l(cfg.SignInLimitUser),
		SignInPerUserAll: l(cfg.SignInLimitAll),
		SignUpPerClient:  l(cfg.SignUpLimitClient),
		PostPerUser:      l(cfg.PostLimitUser),
		PostPerClient:    l(cfg.PostLimitClient),
		FollowPerUser:    l(cfg.FollowLimitUser),
		FollowPerClient:  l(cfg.FollowLimitClient),
	}
}

// newHTTPServer serves HTTP/1.1 everywhere and HTTP/2 on TLS connections
// that negotiate it; never HTTP/2 in clear text, which no browser speaks.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	return &http.Server{
		Protocols: &protocols,
		// A browser holds one connection per site, and on it a stream for
		// each tab's live updates (at most PYTWASK_STREAMS_PER_CLIENT)
		// besides its page loads: 32 is room enough. Go's default, 250,
		// let one client with its hundred connections park 25,000
		// requests, and half a gigabyte, in limitRequests.
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 32},
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// fromSystemd describes the sockets systemd passed, by FileDescriptorName.
func fromSystemd(files []*os.File) ([]Socket, []net.Listener, error) {
	var sockets []Socket
	var lns []net.Listener
	for _, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			closeAll(lns)
			return nil, nil, fmt.Errorf("socket %q from systemd is not a listening stream socket: %w", f.Name(), err)
		}
		lns = append(lns, ln)
		sockets = append(sockets, Socket{Name: f.Name(), Network: ln.Addr().Network(), Addr: ln.Addr().String()})
	}
	return sockets, lns, nil
}

// openListeners opens what the plan says to open and takes the rest from
// systemd. Sockets from systemd are systemd's: pytwask never unlinks them.
func openListeners(cfg *config.Config, specs []Spec, activated []net.Listener) ([]net.Listener, error) {
	mode := cfg.SocketMode.FileMode
	var lns []net.Listener
	for _, s := range specs {
		var ln net.Listener
		var err error
		switch {
		case s.Activated >= 0:
			ln = activated[s.Activated]
		case s.Network == "unix":
			ln, err = listenUnix(s.Addr, mode, cfg.SocketGroup)
		default:
			ln, err = net.Listen("tcp", s.Addr)
			if err != nil {
				err = fmt.Errorf("listen on %s for %s: %w", s.Addr, s.Role, err)
			}
		}
		if err != nil {
			for i, l := range lns {
				if specs[i].Activated < 0 {
					l.Close()
				}
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func listenerAddr(specs []Spec, lns []net.Listener, role Role) net.Addr {
	for i, s := range specs {
		if s.Role == role {
			return lns[i].Addr()
		}
	}
	return nil
}

func describe(a net.Addr) string {
	if a.Network() == "unix" {
		return "unix:" + a.String()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.String()
	}
	return a.String()
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}
