// Package metrics keeps what an operator watches, in the Prometheus format:
// requests by route and status with their latency, Redis commands and
// errors (a go-redis hook), sign-ins, posts, how much work waits for a
// password-check or page slot, the build, and Go's runtime. The debug
// listener serves them at /metrics (never the site's listeners). Counts
// kept elsewhere (the fan-out jobs, the slots) are read at each scrape
// (Gauge, Counter).
//
// It uses the Prometheus project's own client, which keeps the exposition
// format, the histograms and the runtime collectors right; each Metrics has
// a registry of its own, so that two in one process (tests) never clash.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"pytwask/app/buildinfo"
)

// Metrics is one process's metrics. A nil *Metrics counts nothing, so that
// code under test needs none.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	redisCmds *prometheus.CounterVec
	redisErrs *prometheus.CounterVec
	signIns   *prometheus.CounterVec
	posts     prometheus.Counter
	delivery  prometheus.Histogram
}

// New returns metrics registered with a registry of their own, the Go
// runtime's and the process's among them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pytwask_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern it matched), method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pytwask_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
		redisCmds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pytwask_redis_commands_total",
			Help: "Redis commands sent, by name (a pipeline's commands each count).",
		}, []string{"command"}),
		redisErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pytwask_redis_errors_total",
			Help: "Redis commands that failed, by name: no answer, or an error reply (a missing key is no error).",
		}, []string{"command"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pytwask_signins_total",
			Help: "Sign-ins, by result: ok, refused (wrong name or password), limited (429).",
		}, []string{"result"}),
		posts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pytwask_posts_total",
			Help: "Tweets posted.",
		}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pytwask_live_delivery_seconds",
			Help:    "From a live event's append to Redis to its write to an open page's stream.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}),
	}
	// The build, as Prometheus's own servers report theirs: during a rolling
	// upgrade it tells which instances run which version.
	build := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "pytwask_build_info",
		Help:        "Always 1; its labels are the version of pytwask and of Go it was built with.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Version(), "goversion": runtime.Version()},
	}, func() float64 { return 1 })
	// Every sign-in result is there from the start, at 0: rate() misses the
	// first increase of a series that appears at 1, and a dashboard shows
	// "no data" where it means none.
	for _, result := range signInResults {
		m.signIns.WithLabelValues(result)
	}
	m.reg.MustRegister(m.requests, m.latency, m.redisCmds, m.redisErrs, m.signIns, m.posts, m.delivery, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request counts one answered request.
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "none" // matched no route: a 404 or 405
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	if route != LiveRoute { // a stream lasts as long as its page
		m.latency.WithLabelValues(route).Observe(took.Seconds())
	}
}

// LiveRoute is the route of live-update streams, whose requests last as
// long as their page: they are counted, not timed.
const LiveRoute = "GET /events"

// Delivered records how long a live event took from Redis to a page.
func (m *Metrics) Delivered(took time.Duration) {
	if m != nil {
		m.delivery.Observe(took.Seconds())
	}
}

// signInResults are the results SignIn is given.
var signInResults = []string{"ok", "refused", "limited"}

// SignIn counts a sign-in by its result, one of signInResults.
func (m *Metrics) SignIn(result string) {
	if m != nil {
		m.signIns.WithLabelValues(result).Inc()
	}
}

// Posted counts a tweet posted.
func (m *Metrics) Posted() {
	if m != nil {
		m.posts.Inc()
	}
}

// Gauge reports value, asked at each scrape, as the gauge name.
func (m *Metrics) Gauge(name, help string, value func() float64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
	}
}

// Counter reports value, asked at each scrape, as the counter name: a
// count kept elsewhere that only grows.
func (m *Metrics) Counter(name, help string, value func() float64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, value))
	}
}

// RedisHook counts every command a go-redis client sends, and the failed
// ones. Add it to the client with AddHook.
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(cmd, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.count(cmd, cmd.Err())
		}
		return err
	}
}

// count counts cmd, and err if it is one (a command's own error may come
// back only as next's result, not in cmd).
func (h redisHook) count(cmd redis.Cmder, err error) {
	name := strings.ToLower(cmd.Name())
	h.m.redisCmds.WithLabelValues(name).Inc()
	if err == nil {
		err = cmd.Err()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		h.m.redisErrs.WithLabelValues(name).Inc()
	}
}
