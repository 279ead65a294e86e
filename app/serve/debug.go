package serve

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"pytwask/app/config"
)

// roundTrips counts the requests sent to Redis: one per command, one per
// pipeline. It is how the benchmark shows that a page costs a constant number
// of round trips (Redis's own counters include the commands run inside
// scripts, which cost no round trip).
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// debugHandler serves the profiles and the round-trip counter. It is only
// ever served on PYTWASK_DEBUG_ADDR, which config allows on loopback or a
// unix socket only, never next to the site.
func debugHandler(rt *roundTrips) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/redis", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{"round_trips": rt.n.Load()})
	})
	return mux
}

func listenDebug(cfg *config.Config) (net.Listener, error) {
	if path, ok := strings.CutPrefix(cfg.DebugAddr, "unix:"); ok {
		return listenUnix(path, 0o600, "")
	}
	return net.Listen("tcp", cfg.DebugAddr)
}
